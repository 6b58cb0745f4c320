#include "codegen/flavor/packet.h"

#include <cassert>

namespace nfbpf::codegen::flavor {

using emit::AluOp;
using emit::Cond;
using emit::Reg;
using emit::Size;

namespace {

// Offset of a main-frame packet slot as seen through `where`.
int16_t slot(PacketRef where, int16_t frame_off) {
  return static_cast<int16_t>(where.off + (frame_off - emit::kDynptrOff));
}

void check_ref(PacketRef where) {
  (void)where;
  assert(where.base == emit::kFrame || (where.base >= Reg::R6 && where.base <= Reg::R9));
}

// bpf_dynptr_slice(dynptr at r1, r2 = offset, bounce buffer, len); r0 = pointer or short_pkt.
void slice_call(emit::Program& p, uint32_t len, emit::Label& short_pkt) {
  assert(len >= 1 && len <= static_cast<uint32_t>(emit::kSliceBufSize));
  p.mov(Reg::R3, emit::kFrame);
  p.alu(AluOp::kAdd, Reg::R3, emit::kSliceBufOff);
  p.mov(Reg::R4, static_cast<int32_t>(len));
  p.call_kfunc(emit::Kfunc::kDynptrSlice);
  p.jmp(Cond::kEq, Reg::R0, 0, short_pkt);
}

// kDynptr: r2 holds the offset in the dynptr.
void dynptr_slice(emit::Program& p, uint32_t len, emit::Label& short_pkt, PacketRef where) {
  p.mov(Reg::R1, where.base);
  if (where.off != 0) p.alu(AluOp::kAdd, Reg::R1, where.off);
  slice_call(p, len, short_pkt);
}

// kSkbDirect slow path (bytes beyond the linear head): a dynptr over the skb, in this frame's
// dynptr slot (re-initialising it is allowed), then a slice. r2 holds the offset; calls clobber
// r1-r5, so it waits in this frame's key slot.
void skb_slow_slice(emit::Program& p, uint32_t len, emit::Label& short_pkt, PacketRef where) {
  p.stx(Size::kDW, emit::kFrame, emit::kKeyOff, Reg::R2);
  p.ldx(Size::kDW, Reg::R1, where.base, slot(where, emit::kSkbOff));
  p.mov(Reg::R2, 0);
  p.mov(Reg::R3, emit::kFrame);
  p.alu(AluOp::kAdd, Reg::R3, emit::kDynptrOff);
  p.call_kfunc(emit::Kfunc::kDynptrFromSkb);
  p.jmp32(Cond::kNe, Reg::R0, 0, short_pkt);
  p.mov(Reg::R1, emit::kFrame);
  p.alu(AluOp::kAdd, Reg::R1, emit::kDynptrOff);
  p.ldx(Size::kDW, Reg::R2, emit::kFrame, emit::kKeyOff);
  slice_call(p, len, short_pkt);
}

// kSkbDirect: r2 = offset from the L3 header (a scalar the verifier may not bound).
void skb_direct(emit::Program& p, uint32_t len, emit::Label& short_pkt, PacketRef where) {
  emit::Label slow(p), done(p);
  p.mov(Reg::R3, Reg::R2);
  p.alu(AluOp::kAdd, Reg::R3, static_cast<int32_t>(len));
  p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kHeadLenOff));
  p.jmp(Cond::kGt, Reg::R3, Reg::R0, slow);  // unsigned: a huge offset also goes slow (and fails)
  p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kDataOff));
  p.alu(AluOp::kAdd, Reg::R0, Reg::R2);
  p.jmp(done);
  p.bind(slow);
  skb_slow_slice(p, len, short_pkt, where);
  p.bind(done);
}

void slice_with_r2(emit::Program& p, const FlavorOps& f, uint32_t len, emit::Label& short_pkt,
                   PacketRef where) {
  check_ref(where);
  switch (f.packet_mode) {
    case PacketMode::kDynptr: dynptr_slice(p, len, short_pkt, where); return;
    case PacketMode::kSkbDirect: skb_direct(p, len, short_pkt, where); return;
    case PacketMode::kCount: break;
  }
  assert(false && "no packet mode");
}

}  // namespace

void emit_slice(emit::Program& p, const FlavorOps& f, uint32_t l3_off, uint32_t len,
                emit::Label& short_pkt, PacketRef where) {
  if (f.packet_mode == PacketMode::kSkbDirect) {
    // Constant offset: compare the head length with a constant, no offset register needed.
    check_ref(where);
    emit::Label slow(p), done(p);
    p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kHeadLenOff));
    p.jmp(Cond::kLt, Reg::R0, static_cast<int32_t>(l3_off + len), slow);
    p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kDataOff));
    if (l3_off != 0) p.alu(AluOp::kAdd, Reg::R0, static_cast<int32_t>(l3_off));
    p.jmp(done);
    p.bind(slow);
    p.mov(Reg::R2, static_cast<int32_t>(f.l3_offset + l3_off));
    skb_slow_slice(p, len, short_pkt, where);
    p.bind(done);
    return;
  }
  p.mov(Reg::R2, static_cast<int32_t>(f.l3_offset + l3_off));
  slice_with_r2(p, f, len, short_pkt, where);
}

void emit_load_l3_len(emit::Program& p, Reg dst, PacketRef where) {
  p.ldx(Size::kDW, dst, where.base, slot(where, emit::kPktLenOff));
}

void emit_slice_at(emit::Program& p, const FlavorOps& f, Reg off_reg, int32_t add, uint32_t len,
                   emit::Label& short_pkt, PacketRef where) {
  assert(off_reg != Reg::R0 && off_reg != emit::kFrame);
  p.mov(Reg::R2, off_reg);
  int32_t total = add + static_cast<int32_t>(f.l3_offset);
  if (total != 0) p.alu(AluOp::kAdd, Reg::R2, total);
  slice_with_r2(p, f, len, short_pkt, where);
}

}  // namespace nfbpf::codegen::flavor
