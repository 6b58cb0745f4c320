#pragma once
// 8-byte loads and stores that may land on a 4-byte-aligned stack offset (nft's register file
// and LPM keys put 8-byte values at 4-byte boundaries): the verifier refuses misaligned stack
// access, so such an access is split into two 4-byte ones. Packet memory needs no care.

#include "codegen/emit/program.h"
#include "codegen/prologue/state.h"

namespace nfbpf::codegen::matcher {

// r10 and r7 (the main frame's dynptr slot, 8-aligned) address the stack.
inline bool misaligned8(emit::Reg base, int32_t off) {
  return (base == emit::kFrame || base == prologue::kPkt) && (off % 8) != 0;
}

// dst = *(u64 *)(base + off); `tmp` is clobbered when the access is split.
inline void ldx64(emit::Program& p, emit::Reg dst, emit::Reg base, int16_t off, emit::Reg tmp) {
  if (!misaligned8(base, off)) {
    p.ldx(emit::Size::kDW, dst, base, off);
    return;
  }
  p.ldx(emit::Size::kW, dst, base, off);
  p.ldx(emit::Size::kW, tmp, base, static_cast<int16_t>(off + 4));
  p.alu(emit::AluOp::kLsh, tmp, 32);
  p.alu(emit::AluOp::kOr, dst, tmp);
}

// *(u64 *)(base + off) = src; `src` is clobbered when the access is split.
inline void stx64(emit::Program& p, emit::Reg base, int16_t off, emit::Reg src) {
  if (!misaligned8(base, off)) {
    p.stx(emit::Size::kDW, base, off, src);
    return;
  }
  p.stx(emit::Size::kW, base, off, src);
  p.alu(emit::AluOp::kRsh, src, 32);
  p.stx(emit::Size::kW, base, static_cast<int16_t>(off + 4), src);
}

}  // namespace nfbpf::codegen::matcher
