#include "codegen/flavor/packet.h"

#include <cassert>

namespace nfbpf::codegen::flavor {

using emit::AluOp;
using emit::Reg;

namespace {

// r2 holds the dynptr offset already.
void slice_call(emit::Program& p, uint32_t len, emit::Label& short_pkt, PacketRef where) {
  assert(len >= 1 && len <= static_cast<uint32_t>(emit::kSliceBufSize));
  assert(where.base == emit::kFrame || (where.base >= Reg::R6 && where.base <= Reg::R9));
  p.mov(Reg::R1, where.base);
  if (where.off != 0) p.alu(AluOp::kAdd, Reg::R1, where.off);
  p.mov(Reg::R3, emit::kFrame);
  p.alu(AluOp::kAdd, Reg::R3, emit::kSliceBufOff);
  p.mov(Reg::R4, static_cast<int32_t>(len));
  p.call_kfunc(emit::Kfunc::kDynptrSlice);
  p.jmp(emit::Cond::kEq, Reg::R0, 0, short_pkt);
}

}  // namespace

void emit_slice(emit::Program& p, const FlavorOps& f, uint32_t l3_off, uint32_t len,
                emit::Label& short_pkt, PacketRef where) {
  p.mov(Reg::R2, static_cast<int32_t>(f.l3_offset + l3_off));
  slice_call(p, len, short_pkt, where);
}

void emit_load_l3_len(emit::Program& p, Reg dst, PacketRef where) {
  p.ldx(emit::Size::kDW, dst, where.base,
        static_cast<int16_t>(where.off + (emit::kPktLenOff - emit::kDynptrOff)));
}

void emit_slice_at(emit::Program& p, const FlavorOps& f, Reg off_reg, int32_t add, uint32_t len,
                   emit::Label& short_pkt, PacketRef where) {
  assert(off_reg != Reg::R0 && off_reg != emit::kFrame);
  p.mov(Reg::R2, off_reg);
  int32_t total = add + static_cast<int32_t>(f.l3_offset);
  if (total != 0) p.alu(AluOp::kAdd, Reg::R2, total);
  slice_call(p, len, short_pkt, where);
}

}  // namespace nfbpf::codegen::flavor
