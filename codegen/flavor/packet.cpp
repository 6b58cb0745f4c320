#include "codegen/flavor/packet.h"

#include <cassert>
#include <optional>

namespace nfbpf::codegen::flavor {

using emit::AluOp;
using emit::Cond;
using emit::Reg;
using emit::Size;

namespace {

// Offset of a main-frame packet slot as seen through `where`.
int16_t slot(PacketRef where, int16_t frame_off) { return where.slot(frame_off); }

// dst = address of the main-frame slot at r10 + frame_off.
void slot_addr(emit::Program& p, Reg dst, PacketRef where, int16_t frame_off) {
  p.mov(dst, where.base);
  if (int16_t o = slot(where, frame_off); o != 0) p.alu(AluOp::kAdd, dst, o);
}

void check_ref(PacketRef where) {
  (void)where;
  assert(where.base == emit::kFrame || (where.base >= Reg::R6 && where.base <= Reg::R9));
}

// Slow path, for bytes outside the linear data: a dynptr over the packet (built from the skb or
// ctx kept at kPktSrcOff) in the dynptr slot of `where`'s frame (re-initialising it is allowed),
// then bpf_dynptr_slice into that frame's bounce buffer. r2 = offset in the dynptr (from the
// start of the packet data, L2 for XDP/tc); calls clobber r1-r5, so it waits in the key slot.
// Everything goes through `where`, so a subprogram's own frame stays empty.
void slow_slice(emit::Program& p, const FlavorOps& f, uint32_t len, emit::Label& short_pkt,
                PacketRef where) {
  assert(len >= 1 && len <= static_cast<uint32_t>(emit::kSliceBufSize));
  p.stx(Size::kDW, where.base, slot(where, emit::kKeyOff), Reg::R2);
  p.ldx(Size::kDW, Reg::R1, where.base, slot(where, emit::kPktSrcOff));
  p.mov(Reg::R2, 0);
  slot_addr(p, Reg::R3, where, emit::kDynptrOff);
  p.call_kfunc(f.dynptr_ctor);
  p.jmp32(Cond::kNe, Reg::R0, 0, short_pkt);
  slot_addr(p, Reg::R1, where, emit::kDynptrOff);
  p.ldx(Size::kDW, Reg::R2, where.base, slot(where, emit::kKeyOff));
  slot_addr(p, Reg::R3, where, emit::kSliceBufOff);
  p.mov(Reg::R4, static_cast<int32_t>(len));
  p.call_kfunc(emit::Kfunc::kDynptrSlice);
  p.jmp(Cond::kEq, Reg::R0, 0, short_pkt);
}

// Fast path, netfilter: r0 = skb->data + off if [off, off + len) lies in the linear head, else
// `slow`. off is a constant, or nullopt for "r2".
void skb_direct_fast(emit::Program& p, std::optional<uint32_t> off, uint32_t len,
                     emit::Label& slow, PacketRef where) {
  if (off) {
    p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kHeadLenOff));
    p.jmp(Cond::kLt, Reg::R0, static_cast<int32_t>(*off + len), slow);
    p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kDataOff));
    if (*off != 0) p.alu(AluOp::kAdd, Reg::R0, static_cast<int32_t>(*off));
    return;
  }
  p.mov(Reg::R3, Reg::R2);
  p.alu(AluOp::kAdd, Reg::R3, static_cast<int32_t>(len));
  p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kHeadLenOff));
  p.jmp(Cond::kGt, Reg::R3, Reg::R0, slow);  // unsigned: a huge offset also goes slow (and fails)
  p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kDataOff));
  p.alu(AluOp::kAdd, Reg::R0, Reg::R2);
}

// Fast path, XDP/tc/cgroup: packet pointers; the verifier learns the range from the data_end test.
void ctx_direct_fast(emit::Program& p, std::optional<uint32_t> off, uint32_t len,
                     emit::Label& slow, PacketRef where) {
  if (!off) p.jmp(Cond::kGt, Reg::R2, 0xffff, slow);  // bound the variable offset for the verifier
  p.ldx(Size::kDW, Reg::R0, where.base, slot(where, emit::kDataOff));
  if (off) {
    if (*off != 0) p.alu(AluOp::kAdd, Reg::R0, static_cast<int32_t>(*off));
  } else {
    p.alu(AluOp::kAdd, Reg::R0, Reg::R2);
  }
  p.mov(Reg::R1, Reg::R0);
  p.alu(AluOp::kAdd, Reg::R1, static_cast<int32_t>(len));
  p.ldx(Size::kDW, Reg::R3, where.base, slot(where, emit::kDataEndOff));
  p.jmp(Cond::kGt, Reg::R1, Reg::R3, slow);
}

// off: constant offset from the start of the packet data, or nullopt for "r2".
void slice(emit::Program& p, const FlavorOps& f, std::optional<uint32_t> off, uint32_t len,
           emit::Label& short_pkt, PacketRef where) {
  check_ref(where);
  emit::Label slow(p), done(p);
  switch (f.packet_mode) {
    case PacketMode::kSkbDirect: skb_direct_fast(p, off, len, slow, where); break;
    case PacketMode::kCtxDirect: ctx_direct_fast(p, off, len, slow, where); break;
    case PacketMode::kCount: assert(false && "no packet mode"); break;
  }
  p.jmp(done);
  p.bind(slow);
  if (off) p.mov(Reg::R2, static_cast<int32_t>(*off));
  slow_slice(p, f, len, short_pkt, where);
  p.bind(done);
}

}  // namespace

void emit_slice(emit::Program& p, const FlavorOps& f, uint32_t l3_off, uint32_t len,
                emit::Label& short_pkt, PacketRef where) {
  slice(p, f, f.l3_offset + l3_off, len, short_pkt, where);
}

void emit_slice_at(emit::Program& p, const FlavorOps& f, Reg off_reg, int32_t add, uint32_t len,
                   emit::Label& short_pkt, PacketRef where) {
  assert(off_reg != Reg::R0 && off_reg != emit::kFrame);
  p.mov(Reg::R2, off_reg);
  int32_t total = add + static_cast<int32_t>(f.l3_offset);
  if (total != 0) p.alu(AluOp::kAdd, Reg::R2, total);
  slice(p, f, std::nullopt, len, short_pkt, where);
}

void emit_load_l3_len(emit::Program& p, Reg dst, PacketRef where) {
  p.ldx(Size::kDW, dst, where.base, slot(where, emit::kPktLenOff));
}

}  // namespace nfbpf::codegen::flavor
