// nft exthdr loads (ir::Base::kExtHdr) in BPF: the kernel's walk (net/netfilter/nft_exthdr.c),
// unrolled to a fixed number of steps, then one read at the offset found. See exthdr.h.
#include "codegen/matcher/exthdr.h"

#include <fmt/format.h>

#include "codegen/flavor/packet.h"
#include "codegen/matcher/load.h"
#include "codegen/prologue/prologue.h"
#include "translate/ir/fields.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::Label;
using emit::Reg;
using emit::Size;
using prologue::kPkt;
using prologue::pkt_ref;
using prologue::rel;

namespace {

constexpr int32_t kEthIp6 = 0x86dd;

bool is_pow2_len(uint32_t n) { return n == 1 || n == 2 || n == 4 || n == 8; }

Size size_of(uint32_t n) {
  switch (n) {
    case 1: return Size::kB;
    case 2: return Size::kH;
    case 4: return Size::kW;
    default: return Size::kDW;
  }
}

bool ipv6_ext(uint8_t t) { return t == 0 || t == 43 || t == 44 || t == 51 || t == 60; }

// reg ^= x twice with x unknown to the verifier (the packet length): the same number at run time,
// an unknown scalar for the verifier, so every path of an unrolled step reaches the next step in
// one state (the prologue's forget_range, for the same reason). Clobbers r2, r3.
void forget_range(emit::Program& p, Reg reg) {
  flavor::emit_load_l3_len(p, Reg::R2, pkt_ref());
  p.mov(Reg::R3, Reg::R2);
  p.alu(AluOp::kLsh, Reg::R3, 32);
  p.alu(AluOp::kOr, Reg::R3, Reg::R2);
  p.alu(AluOp::kXor, reg, Reg::R3);
  p.alu(AluOp::kXor, reg, Reg::R3);
}

void store(emit::Program& p, int16_t slot, Reg r) { p.stx(Size::kDW, kPkt, rel(slot), r); }
void load(emit::Program& p, Reg r, int16_t slot) { p.ldx(Size::kDW, r, kPkt, rel(slot)); }
void load_state(emit::Program& p, Reg r, int16_t state_slot) { p.ldx(Size::kDW, r, kPkt, rel(state_slot)); }

// The walks below end in one of two places: `found` with the offset (from the IP header) of the
// header/option/chunk in the `off` temporary, or `absent`.
struct Walk {
  emit::Program& p;
  const flavor::FlavorOps& fl;
  const ir::Field& f;
  int16_t off;  // temporaries (main-frame slots, TempStack)
  int16_t aux;
  int16_t aux2;
  int16_t count;  // loop iterations so far
  Label& found;
  Label& absent;
};

// The walks are real loops (a backward jump), not unrolled: a step is 100-150 instructions, and
// unrolled walks made 20 such rules overflow the 16-bit jump offsets of a program. The verifier
// still follows every iteration (the counter is an exact constant per iteration, so no state
// repeats and no infinite loop is suspected); forget_range keeps it to one state per iteration.
// Jumps to `out` once `limit` iterations have run; else counts this one.
void count_step(Walk& w, int limit, Label& out) {
  emit::Program& p = w.p;
  load(p, Reg::R1, w.count);
  p.jmp(Cond::kGe, Reg::R1, limit, out);
  p.alu(AluOp::kAdd, Reg::R1, 1);
  store(p, w.count, Reg::R1);
}

// ipv6_find_hdr(skb, &off, type, NULL, NULL): `steps` extension headers at most.
void walk_ipv6(Walk& w, int steps) {
  emit::Program& p = w.p;
  const uint8_t t = w.f.ext_type;
  flavor::emit_slice(p, w.fl, 0, 40, w.absent, pkt_ref());
  p.ldx(Size::kB, Reg::R1, Reg::R0, 6);
  store(p, w.aux, Reg::R1);  // aux = the type of the header at `off`
  p.mov(Reg::R1, 40);
  store(p, w.off, Reg::R1);
  // The header of the target type: its first 2 bytes (4 for routing and fragment headers) must
  // be in the packet; a non-first fragment header still counts when it is the target.
  Label hit(p);
  p.st(Size::kDW, kPkt, rel(w.count), 0);
  Label head(p);
  p.bind(head);
  {
    load(p, Reg::R1, w.aux);
    if (ipv6_ext(t)) p.jmp(Cond::kEq, Reg::R1, t, hit);
    else p.jmp(Cond::kEq, Reg::R1, t, w.found);  // an upper-layer type (or NONE) ends the chain
    count_step(w, steps, w.absent);              // more headers than we walk: not found here
    load(p, Reg::R1, w.aux);
    Label frag(p), rt(p), opt(p), ah(p), adv(p);
    p.jmp(Cond::kEq, Reg::R1, 44, frag);
    p.jmp(Cond::kEq, Reg::R1, 43, rt);
    p.jmp(Cond::kEq, Reg::R1, 51, ah);
    p.jmp(Cond::kEq, Reg::R1, 0, opt);
    p.jmp(Cond::kEq, Reg::R1, 60, opt);
    p.jmp(w.absent);  // an upper-layer protocol or NONE that is not the target: -ENOENT
    p.bind(frag);
    load(p, Reg::R1, w.off);
    flavor::emit_slice_at(p, w.fl, Reg::R1, 0, 4, w.absent, pkt_ref());
    p.ldx(Size::kH, Reg::R2, Reg::R0, 2);
    p.to_be(Reg::R2, 16);
    p.alu(AluOp::kAnd, Reg::R2, 0xfff8);
    p.jmp(Cond::kNe, Reg::R2, 0, w.absent);  // a non-first fragment that is not the target: -ENOENT
    p.mov(Reg::R2, 8);
    p.jmp(adv);
    p.bind(rt);
    load(p, Reg::R1, w.off);
    flavor::emit_slice_at(p, w.fl, Reg::R1, 0, 4, w.absent, pkt_ref());
    // A routing header's length works as an options header's (rt falls through: opt's 2-byte
    // slice is then already known to succeed).
    p.bind(opt);
    load(p, Reg::R1, w.off);
    flavor::emit_slice_at(p, w.fl, Reg::R1, 0, 2, w.absent, pkt_ref());
    p.ldx(Size::kB, Reg::R2, Reg::R0, 1);
    p.alu(AluOp::kAdd, Reg::R2, 1);
    p.alu(AluOp::kLsh, Reg::R2, 3);  // ipv6_optlen
    p.jmp(adv);
    p.bind(ah);
    load(p, Reg::R1, w.off);
    flavor::emit_slice_at(p, w.fl, Reg::R1, 0, 2, w.absent, pkt_ref());
    p.ldx(Size::kB, Reg::R2, Reg::R0, 1);
    p.alu(AluOp::kAdd, Reg::R2, 2);
    p.alu(AluOp::kLsh, Reg::R2, 2);  // ipv6_authlen
    p.bind(adv);
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    store(p, w.aux, Reg::R1);
    load(p, Reg::R4, w.off);
    p.alu(AluOp::kAdd, Reg::R4, Reg::R2);
    forget_range(p, Reg::R4);
    p.jmp(Cond::kGt, Reg::R4, 0x7fff, w.absent);
    store(p, w.off, Reg::R4);
    p.jmp(head);
  }
  if (hit.referenced()) {
    p.bind(hit);
    load(p, Reg::R1, w.off);
    flavor::emit_slice_at(p, w.fl, Reg::R1, 0, t == 43 || t == 44 ? 4 : 2, w.absent, pkt_ref());
    p.jmp(w.found);
  }
}

// nft_exthdr_tcp_eval's walk over at most 40 bytes of options. `found` gets off = the option's
// offset from the IP header and aux2 = its optlen(); the caller checks that it fits.
void walk_tcp(Walk& w) {
  emit::Program& p = w.p;
  load_state(p, Reg::R1, prologue::kTprotSlot);
  p.jmp(Cond::kNe, Reg::R1, 6, w.absent);
  load_state(p, Reg::R1, prologue::kFragSlot);
  p.jmp(Cond::kNe, Reg::R1, 0, w.absent);
  load_state(p, Reg::R1, prologue::kThoffSlot);
  flavor::emit_slice_at(p, w.fl, Reg::R1, 0, 20, w.absent, pkt_ref());
  p.ldx(Size::kB, Reg::R2, Reg::R0, 12);
  p.alu(AluOp::kRsh, Reg::R2, 4);
  p.alu(AluOp::kLsh, Reg::R2, 2);  // __tcp_hdrlen
  p.jmp(Cond::kLt, Reg::R2, 20, w.absent);
  // skb_header_pointer(thoff, hdrlen): the whole header must be in the packet.
  load_state(p, Reg::R1, prologue::kThoffSlot);
  p.alu(AluOp::kAdd, Reg::R1, Reg::R2);
  flavor::emit_load_l3_len(p, Reg::R3, pkt_ref());
  p.jmp(Cond::kGt, Reg::R1, Reg::R3, w.absent);
  store(p, w.aux, Reg::R2);  // aux = header length
  p.mov(Reg::R1, 20);
  store(p, w.off, Reg::R1);  // off = i, from the TCP header here; made absolute at `hit`
  Label hit(p);
  p.st(Size::kDW, kPkt, rel(w.count), 0);
  Label head(p);
  p.bind(head);
  {
    // for (i = 20; i < hdrlen - 1; i += optl): at most 39 steps (optl >= 1).
    count_step(w, 39, w.absent);
    load(p, Reg::R1, w.off);
    load(p, Reg::R2, w.aux);
    p.alu(AluOp::kSub, Reg::R2, 1);
    p.jmp(Cond::kGe, Reg::R1, Reg::R2, w.absent);
    load_state(p, Reg::R2, prologue::kThoffSlot);
    p.alu(AluOp::kAdd, Reg::R1, Reg::R2);
    flavor::emit_slice_at(p, w.fl, Reg::R1, 0, 2, w.absent, pkt_ref());
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    p.ldx(Size::kB, Reg::R2, Reg::R0, 1);
    // optlen(): 1 for EOL/NOP or a zero length byte, else the length byte. Computed without
    // branches (each branch here multiplied the verifier's paths per iteration):
    //   m = len + (len == 0)          with (len == 0) = (len - 1) >> 63
    //   k = (kind < 2)                with (kind - 2) >> 63
    //   optl = m + k * (1 - m)
    p.mov(Reg::R4, Reg::R2);
    p.alu(AluOp::kSub, Reg::R4, 1);
    p.alu(AluOp::kRsh, Reg::R4, 63);
    p.alu(AluOp::kAdd, Reg::R4, Reg::R2);  // m
    p.mov(Reg::R5, Reg::R1);
    p.alu(AluOp::kSub, Reg::R5, 2);
    p.alu(AluOp::kRsh, Reg::R5, 63);       // k
    p.mov(Reg::R3, 1);
    p.alu(AluOp::kSub, Reg::R3, Reg::R4);  // 1 - m
    p.alu(AluOp::kMul, Reg::R3, Reg::R5);
    p.alu(AluOp::kAdd, Reg::R4, Reg::R3);  // optl
    store(p, w.aux2, Reg::R4);
    p.jmp(Cond::kEq, Reg::R1, w.f.ext_type, hit);
    load(p, Reg::R1, w.off);
    p.alu(AluOp::kAdd, Reg::R1, Reg::R4);
    forget_range(p, Reg::R1);
    p.jmp(Cond::kGt, Reg::R1, 60, w.absent);
    store(p, w.off, Reg::R1);
    p.jmp(head);
  }
  p.bind(hit);
  // if (i + optl > tcphdr_len) goto err
  load(p, Reg::R1, w.off);
  load(p, Reg::R2, w.aux2);
  p.alu(AluOp::kAdd, Reg::R1, Reg::R2);
  load(p, Reg::R3, w.aux);
  p.jmp(Cond::kGt, Reg::R1, Reg::R3, w.absent);
  // if (priv->len + priv->offset > optl) goto err
  p.jmp(Cond::kLt, Reg::R2, static_cast<int32_t>(w.f.offset + w.f.len), w.absent);
  load(p, Reg::R1, w.off);
  load_state(p, Reg::R2, prologue::kThoffSlot);
  p.alu(AluOp::kAdd, Reg::R1, Reg::R2);
  store(p, w.off, Reg::R1);
  p.jmp(w.found);
}

// nft_exthdr_sctp_eval's chunk walk, `chunks` chunks at most. `found` gets off = the chunk's
// offset from the IP header; the caller checks its length.
void walk_sctp(Walk& w, int chunks) {
  emit::Program& p = w.p;
  // Kernel 6.18's nft_exthdr_sctp_eval checks pkt->tprot only, not the fragment offset (later
  // kernels also refuse non-first fragments): a non-first fragment's bytes at thoff are walked
  // as chunks (found by the verdict differential).
  load_state(p, Reg::R1, prologue::kTprotSlot);
  p.jmp(Cond::kNe, Reg::R1, 132, w.absent);
  load_state(p, Reg::R1, prologue::kThoffSlot);
  p.alu(AluOp::kAdd, Reg::R1, 12);
  store(p, w.off, Reg::R1);
  Label hit(p);
  p.st(Size::kDW, kPkt, rel(w.count), 0);
  Label head(p);
  p.bind(head);
  {
    count_step(w, chunks, w.absent);
    load(p, Reg::R1, w.off);
    flavor::emit_slice_at(p, w.fl, Reg::R1, 0, 4, w.absent, pkt_ref());
    p.ldx(Size::kH, Reg::R2, Reg::R0, 2);
    p.to_be(Reg::R2, 16);
    p.jmp(Cond::kEq, Reg::R2, 0, w.absent);
    store(p, w.aux, Reg::R2);  // aux = the chunk's length
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    p.jmp(Cond::kEq, Reg::R1, w.f.ext_type, hit);
    // offset += SCTP_PAD4(length); while (offset < skb->len)
    p.alu(AluOp::kAdd, Reg::R2, 3);
    p.alu(AluOp::kAnd, Reg::R2, ~3);
    load(p, Reg::R4, w.off);
    p.alu(AluOp::kAdd, Reg::R4, Reg::R2);
    forget_range(p, Reg::R4);
    // Packet-pointer arithmetic needs offsets well under 64 KiB (the verifier learns nothing
    // from a data_end test otherwise): a chunk 32 KiB or more into the packet counts as absent.
    p.jmp(Cond::kGt, Reg::R4, 0x7fff, w.absent);
    store(p, w.off, Reg::R4);
    flavor::emit_load_l3_len(p, Reg::R2, pkt_ref());
    p.jmp(Cond::kGe, Reg::R4, Reg::R2, w.absent);
    p.jmp(head);
  }
  p.bind(hit);
  if (!w.f.ext_present) {
    // priv->offset + priv->len > length, or offset + length > skb->len: err
    p.jmp(Cond::kLt, Reg::R2, static_cast<int32_t>(w.f.offset + w.f.len), w.absent);
    load(p, Reg::R1, w.off);
    p.alu(AluOp::kAdd, Reg::R1, Reg::R2);
    flavor::emit_load_l3_len(p, Reg::R3, pkt_ref());
    p.jmp(Cond::kGt, Reg::R1, Reg::R3, w.absent);
  }
  p.jmp(w.found);
}

}  // namespace

Result<void> exthdr_supported(const flavor::FlavorOps& fl, const ir::Field& f) {
  const auto op = static_cast<ir::ExtHdrOp>(f.key);
  if (op != ir::ExtHdrOp::kIpv6 && op != ir::ExtHdrOp::kTcpOpt && op != ir::ExtHdrOp::kSctp)
    return failf(EOPNOTSUPP, "{}: {} extension headers are not supported by the BPF code generator", field_label(f),
                 ir::to_string(op));
  if (f.len == 0 || f.len > static_cast<uint32_t>(emit::kSliceBufSize) || f.offset > 255)
    return failf(EOPNOTSUPP, "{}: a {}-byte load at offset {} is not supported", field_label(f), f.len, f.offset);
  if (f.ext_present && f.len > 4)
    return failf(EOPNOTSUPP, "{}: a {}-byte presence load", field_label(f), f.len);
  (void)fl;  // every flavor has the IP header and the prologue's transport state
  return {};
}

Result<Loaded> load_exthdr(EmitCtx& c, const ir::Field& f, emit::Label& fail, bool want_mem) {
  NFBPF_TRYV(exthdr_supported(c.f, f));
  emit::Program& p = c.p;
  auto off = c.stack.alloc(8);
  auto aux = c.stack.alloc(8);
  auto aux2 = c.stack.alloc(8);
  auto count = c.stack.alloc(8);
  if (!off || !aux || !aux2 || !count) return failf(ENOSPC, "{}: no stack left for the walk", field_label(f));
  const auto op = static_cast<ir::ExtHdrOp>(f.key);
  Label found(p), absent(p), done(p);
  if (op == ir::ExtHdrOp::kIpv6) {
    // nft_exthdr_ipv6_eval: skb->protocol must be IPv6, also for "exists"/"missing".
    load_state(p, Reg::R1, prologue::kProtoSlot);
    p.jmp(Cond::kNe, Reg::R1, kEthIp6, fail);
  }
  Walk w{p, c.f, f, *off, *aux, *aux2, *count, found, absent};
  switch (op) {
    case ir::ExtHdrOp::kIpv6:
      walk_ipv6(w, c.layout.ipv6_ext_headers > 0 ? c.layout.ipv6_ext_headers : prologue::kMaxIpv6ExtHeaders);
      break;
    case ir::ExtHdrOp::kTcpOpt: walk_tcp(w); break;
    default: walk_sctp(w, kMaxSctpChunks); break;
  }
  const bool as_reg = f.ext_present || (!want_mem && is_pow2_len(f.len));
  p.bind(found);
  if (f.ext_present) {
    p.mov(Reg::R1, 1);
  } else {
    load(p, Reg::R1, *off);
    flavor::emit_slice_at(p, c.f, Reg::R1, static_cast<int32_t>(f.offset), f.len, fail, pkt_ref());
    if (as_reg) p.ldx(size_of(f.len), Reg::R1, Reg::R0, 0);
    else p.mov(Reg::R1, Reg::R0);
  }
  p.jmp(done);
  p.bind(absent);
  if (f.ext_present) p.mov(Reg::R1, 0);
  else p.jmp(fail);
  p.bind(done);
  if (f.ext_present && want_mem) {
    // Keys are copied from memory: park the 0/1 byte in a temporary.
    p.stx(Size::kDW, kPkt, rel(*aux), Reg::R1);
    p.mov(Reg::R1, kPkt);
    p.alu(AluOp::kAdd, Reg::R1, rel(*aux));
    return Loaded{Loaded::Kind::kMem, f.len};
  }
  return Loaded{as_reg ? Loaded::Kind::kReg : Loaded::Kind::kMem, f.len};
}

}  // namespace nfbpf::codegen::matcher
