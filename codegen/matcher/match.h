#pragma once
// One ir::Match: load the key (load.h), then compare (cmp.h), test a range (cmp.h emit_range) or
// look it up in a set (set_lookup.h). Falls through when the match holds, jumps to `fail` (the
// next rule) otherwise. Scratch stack is released when the match's code is done.
// Clobbers r0-r5.

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

// Register reuse across rules (the chain compiler decides when it is safe): `reuse_r1` skips the
// load because r1 already holds this match's (single, register-sized) field on every path here;
// `unavailable` (optional) is where to go when the field cannot be read at all, instead of `fail`.
struct MatchPlan {
  bool reuse_r1 = false;
  emit::Label* unavailable = nullptr;
};

// Returns true when the key stayed in r1 as a register value (a later rule reading the same field
// may reuse it).
Result<bool> emit_match(EmitCtx& c, const ir::Match& m, emit::Label& fail, const MatchPlan& plan = {});

// Whether emit_match would accept `m` at flavor `f` (fields readable, shapes supported).
Result<void> match_supported(const flavor::FlavorOps& f, const ir::Table& t, const ir::Match& m, bool have_nfct = true);

}  // namespace nfbpf::codegen::matcher
