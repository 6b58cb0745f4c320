#pragma once
// Pass: register blocks → matchers.
//
// Lowering leaves each rule's nft expressions as register operations. This pass evaluates a
// block symbolically (which field, possibly masked, each register holds) and rewrites it into
// Match / VerdictMap / SetMark steps when every operation in it has such a form:
//   load [bitwise mask] [byteorder] cmp|range      → Match (eq..ge, range, with mask)
//   load... (concatenation) lookup                 → Match in-set / not-in-set
//   load... lookup into the verdict register       → VerdictMap
//   immediate|load [bitwise] meta-set mark         → SetMark
// A block with any other operation is left whole (codegen runs it on a register file), so the
// rewrite never changes meaning. Nor is any block rewritten when a register written in one
// block is read in a later one (matchers do not write registers).
//
// Needs: sets named by lookups exist in the table (ir::validate). Keeps: step order.

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::translate::passes {

Result<void> form_matches(ir::Table& table);

}  // namespace nfbpf::translate::passes
