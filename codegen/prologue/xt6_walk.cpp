#include "codegen/prologue/xt6_walk.h"

#include "codegen/flavor/packet.h"
#include "codegen/prologue/state.h"
#include "translate/ir/fields.h"

namespace nfbpf::codegen::prologue {

using emit::AluOp;
using emit::Cond;
using emit::Label;
using emit::Reg;
using emit::Size;

namespace {

constexpr int32_t kHop = 0, kRouting = 43, kFragment = 44, kAuth = 51, kDest = 60;

void store_imm(emit::Program& p, int16_t slot, int32_t v) { p.st(Size::kDW, kPkt, rel(slot), v); }
void store_reg(emit::Program& p, int16_t slot, Reg r) { p.stx(Size::kDW, kPkt, rel(slot), r); }

// Every path leaves the slots with its own ranges (a constant 40, a protocol byte, 0x100...);
// the verifier would then check the rest of the program once per combination. Forget them.
void forget_slot(emit::Program& p, int16_t slot) {
  p.ldx(Size::kDW, Reg::R1, kPkt, rel(slot));
  forget_range(p, Reg::R1);
  store_reg(p, slot, Reg::R1);
}

}  // namespace

void emit_xt6_failed(emit::Program& p) {
  store_imm(p, kXtTprotSlot, ir::kXtWalkFailed);
  store_imm(p, kXtThoffSlot, -1);
  store_imm(p, kXtFragSlot, 0);
}

void emit_xt6_walk(emit::Program& p, const flavor::FlavorOps& f, int steps) {
  Label bad(p), found(p), done(p);
  store_reg(p, kXtTprotSlot, Reg::R1);  // the header type being looked at; r9 its offset
  store_imm(p, kXtFragSlot, 0);
  p.mov(kL4Ptr, 40);
  for (int i = 0; i < steps; ++i) {
    Label ext(p), ah(p), frag(p), first(p), next(p);
    p.ldx(Size::kDW, Reg::R1, kPkt, rel(kXtTprotSlot));
    p.jmp(Cond::kEq, Reg::R1, kFragment, frag);
    p.jmp(Cond::kEq, Reg::R1, kAuth, ah);
    p.jmp(Cond::kEq, Reg::R1, kHop, ext);
    p.jmp(Cond::kEq, Reg::R1, kRouting, ext);
    p.jmp(Cond::kEq, Reg::R1, kDest, ext);
    p.jmp(found);  // NONE, ESP and every upper-layer protocol end the walk
    p.bind(ext);
    flavor::emit_slice_at(p, f, kL4Ptr, 0, 2, bad, pkt_ref());
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    p.ldx(Size::kB, Reg::R2, Reg::R0, 1);
    p.alu(AluOp::kAdd, Reg::R2, 1);
    p.alu(AluOp::kLsh, Reg::R2, 3);  // ipv6_optlen
    p.jmp(next);
    p.bind(ah);
    flavor::emit_slice_at(p, f, kL4Ptr, 0, 2, bad, pkt_ref());
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    p.ldx(Size::kB, Reg::R2, Reg::R0, 1);
    p.alu(AluOp::kAdd, Reg::R2, 2);
    p.alu(AluOp::kLsh, Reg::R2, 2);  // ipv6_authlen
    p.jmp(next);
    p.bind(frag);
    flavor::emit_slice_at(p, f, kL4Ptr, 0, 4, bad, pkt_ref());
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    p.ldx(Size::kH, Reg::R2, Reg::R0, 2);
    p.to_be(Reg::R2, 16);
    p.alu(AluOp::kAnd, Reg::R2, 0xfff8);
    p.jmp(Cond::kEq, Reg::R2, 0, first);
    // A non-first fragment: the protocol when the next header is not an extension header (NONE
    // is not one here), else -ENOENT. The offset past the fragment header is what 6.18's
    // ipv6_find_hdr reports; no x_tables match reads it (they all fail on fragoff != 0).
    for (int32_t h : {kHop, kRouting, kFragment, kAuth, kDest}) p.jmp(Cond::kEq, Reg::R1, h, bad);
    store_reg(p, kXtTprotSlot, Reg::R1);
    store_reg(p, kXtFragSlot, Reg::R2);
    p.alu(AluOp::kAdd, kL4Ptr, 8);
    p.jmp(found);
    p.bind(first);
    p.mov(Reg::R2, 8);
    p.bind(next);
    // No check that the header fits in the packet (6.18 has none): a header running past the
    // end leaves the next read, or the match's own header read, to fail.
    store_reg(p, kXtTprotSlot, Reg::R1);
    p.alu(AluOp::kAdd, kL4Ptr, Reg::R2);
    // One verifier state per step, whatever kinds of header came before (see prologue.cpp).
    forget_range(p, kL4Ptr);
    p.jmp(Cond::kGt, kL4Ptr, 0x7fff, bad);
  }
  // More extension headers than the walk's bound: failed (see the header comment).
  p.ldx(Size::kDW, Reg::R1, kPkt, rel(kXtTprotSlot));
  for (int32_t h : {kHop, kRouting, kFragment, kAuth, kDest}) p.jmp(Cond::kEq, Reg::R1, h, bad);
  p.bind(found);
  store_reg(p, kXtThoffSlot, kL4Ptr);
  p.jmp(done);
  p.bind(bad);
  emit_xt6_failed(p);
  p.bind(done);
  for (int16_t slot : {kXtTprotSlot, kXtThoffSlot, kXtFragSlot}) forget_slot(p, slot);
}

}  // namespace nfbpf::codegen::prologue
