#pragma once
// One ir::Match: load the key (load.h), then compare (cmp.h), test a range (cmp.h emit_range) or
// look it up in a set (set_lookup.h). Falls through when the match holds, jumps to `fail` (the
// next rule) otherwise. Scratch stack is released when the match's code is done.
// Clobbers r0-r5.

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

Result<void> emit_match(EmitCtx& c, const ir::Match& m, emit::Label& fail);

// Whether emit_match would accept `m` at flavor `f` (fields readable, shapes supported).
Result<void> match_supported(const flavor::FlavorOps& f, const ir::Table& t, const ir::Match& m, bool have_nfct = true);

}  // namespace nfbpf::codegen::matcher
