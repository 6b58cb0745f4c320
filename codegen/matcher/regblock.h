#pragma once
// RegisterBlock: nft's register machine on an 80-byte register file in the current frame's stack
// (zeroed data registers per block, as the reference evaluator does). Register r is at byte r*4;
// 0..15 is the verdict register. Implemented ops: load, immediate (data, and verdicts into
// register 0), bitwise (mask/xor), shift (lshift/rshift per 32-bit word with carry), byteorder
// (sizes 2/4/8, nft's u32-stride layout), cmp, range, lookup (sets, data maps, verdict maps into
// register 0), meta set mark/priority (tc and cgroup_skb only: netfilter and XDP programs cannot
// write skb->mark). Anything else is EOPNOTSUPP naming the op.
// Clobbers r0-r5.

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

// How a verdict decided inside a block (or a verdict map) is emitted: the chain compiler's job.
class VerdictEmitter {
 public:
  virtual ~VerdictEmitter() = default;
  // Emits code applying a constant verdict (control does not come back for accept/drop/...;
  // kContinue must fall through).
  virtual Result<void> constant(const ir::Verdict& v) = 0;
  // r0 = non-NULL pointer to a VmapValue of verdict map `s`: emits the dispatch; falls through
  // for continue.
  virtual Result<void> from_vmap(const ir::Set& s) = 0;
};

// true: control may fall through to the rule's next step; false: a constant verdict ended the
// block (emit nothing after it: the verifier refuses unreachable code).
Result<bool> emit_register_block(EmitCtx& c, const ir::RegisterBlock& b, emit::Label& fail, VerdictEmitter& v);

}  // namespace nfbpf::codegen::matcher
