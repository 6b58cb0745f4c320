#pragma once
// Packet set-up shared by the flavors whose ctx is a struct __sk_buff (TCX, cgroup_skb):
// bpf_dynptr_from_skb(ctx, 0, &dynptr); the dynptr starts at skb->data (L2 for tc, L3 for cgroup).

#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {

inline void emit_skb_ctx_init(emit::Program& p, emit::Label& fail, uint32_t l3_offset) {
  using emit::Reg;
  p.mov(emit::kCtx, Reg::R1);
  p.mov(Reg::R2, 0);
  p.mov(Reg::R3, emit::kFrame);
  p.alu(emit::AluOp::kAdd, Reg::R3, emit::kDynptrOff);
  p.call_kfunc(emit::Kfunc::kDynptrFromSkb);
  p.jmp32(emit::Cond::kNe, Reg::R0, 0, fail);
  emit_store_l3_len(p, l3_offset, fail);
}

}  // namespace nfbpf::codegen::flavor
