#include "codegen/prologue/prologue.h"

#include <algorithm>

#include "codegen/abi/netfilter.h"
#include "codegen/flavor/packet.h"
#include "codegen/prologue/xt6_walk.h"

namespace nfbpf::codegen::prologue {

using emit::AluOp;
using emit::Cond;
using emit::Label;
using emit::Reg;
using emit::Size;
using flavor::Flavor;

namespace {

constexpr int32_t kNfprotoIpv4 = 2, kNfprotoIpv6 = 10, kNfprotoNetdev = 5;
constexpr int32_t kEthIp = 0x0800, kEthIp6 = 0x86dd;
constexpr int16_t kSkbProtocolOff = 16;  // struct __sk_buff.protocol (__be16 in a u32)

bool l2_flavor(Flavor f) { return f == Flavor::kXdp || f == Flavor::kTcxIngress || f == Flavor::kTcxEgress; }

struct Mode {
  bool v4 = false, v6 = false;
  bool other_runs = false;     // non-IP frames run the rules (netdev) instead of being skipped
  bool validate = false;       // __nft_set_pktinfo_ipvX_validate
  bool invalid_drops = false;  // inet ingress: an invalid IP header drops the packet
  bool netdev = false;         // nfproto reads NFPROTO_NETDEV
};

Mode mode_for(const flavor::FlavorOps& f, ir::Family fam) {
  Mode m;
  m.v4 = fam == ir::Family::kIp || fam == ir::Family::kInet || fam == ir::Family::kNetdev;
  m.v6 = fam == ir::Family::kIp6 || fam == ir::Family::kInet || fam == ir::Family::kNetdev;
  m.netdev = fam == ir::Family::kNetdev;
  m.other_runs = m.netdev;
  bool l2 = l2_flavor(f.flavor);
  m.validate = l2 && (fam == ir::Family::kNetdev || fam == ir::Family::kInet);
  m.invalid_drops = l2 && fam == ir::Family::kInet && f.flavor != Flavor::kTcxEgress;
  return m;
}

void store_imm(emit::Program& p, int16_t slot, int32_t v) { p.st(Size::kDW, kPkt, rel(slot), v); }
void store_reg(emit::Program& p, int16_t slot, Reg r) { p.stx(Size::kDW, kPkt, rel(slot), r); }

// No transport header: tprot and thoff unknown. r8 is left as it is.
void no_l4(emit::Program& p) {
  store_imm(p, kTprotSlot, -1);
  store_imm(p, kThoffSlot, -1);
  store_imm(p, kFragSlot, 0);
}

// r8 = slice of max(min_len, l3_fast) bytes, or 0 with r0 = slice of min_len bytes; `none` when
// even min_len bytes are missing (r8 = 0 there). Leaves r0 = header pointer (>= min_len bytes).
void slice_l3(emit::Program& p, const flavor::FlavorOps& f, uint32_t min_len, const Layout& lay, Label& none) {
  uint32_t want = std::max(min_len, lay.l3_fast);
  Label shrt(p), have(p);
  flavor::emit_slice(p, f, 0, want, shrt, pkt_ref());
  p.mov(kL3Ptr, Reg::R0);
  p.jmp(have);
  p.bind(shrt);
  p.mov(kL3Ptr, 0);
  if (want > min_len) flavor::emit_slice(p, f, 0, min_len, none, pkt_ref());
  else p.jmp(none);
  p.bind(have);
}

void parse_ipv4(emit::Program& p, const flavor::FlavorOps& f, const Mode& m, const Layout& lay,
                Label& invalid, Label& none, Label& done) {
  slice_l3(p, f, 20, lay, none);
  p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
  if (m.validate) {
    p.mov(Reg::R2, Reg::R1);
    p.alu(AluOp::kRsh, Reg::R2, 4);
    p.jmp(Cond::kNe, Reg::R2, 4, invalid);
  }
  p.alu(AluOp::kAnd, Reg::R1, 0xf);
  p.jmp(Cond::kLt, Reg::R1, 5, invalid);
  p.alu(AluOp::kLsh, Reg::R1, 2);  // thoff = ihl * 4
  if (m.validate) {
    p.ldx(Size::kH, Reg::R2, Reg::R0, 2);
    p.to_be(Reg::R2, 16);
    p.jmp(Cond::kLt, Reg::R2, Reg::R1, invalid);   // total length < header length
    flavor::emit_load_l3_len(p, Reg::R3, pkt_ref());
    p.jmp(Cond::kLt, Reg::R3, Reg::R2, invalid);   // packet shorter than its total length
  }
  p.ldx(Size::kB, Reg::R2, Reg::R0, 9);
  store_reg(p, kTprotSlot, Reg::R2);
  p.ldx(Size::kH, Reg::R2, Reg::R0, 6);
  p.to_be(Reg::R2, 16);
  p.alu(AluOp::kAnd, Reg::R2, 0x1fff);
  p.alu(AluOp::kLsh, Reg::R2, 3);  // fragoff in bytes
  store_reg(p, kFragSlot, Reg::R2);
  store_reg(p, kThoffSlot, Reg::R1);
  p.jmp(done);
}

// Jumps to `yes` if r1 is an IPv6 extension header as ipv6_ext_hdr() counts them.
void jmp_if_ext(emit::Program& p, Label& yes, bool with_none) {
  for (int32_t h : {0, 43, 44, 51, 60}) p.jmp(Cond::kEq, Reg::R1, h, yes);
  if (with_none) p.jmp(Cond::kEq, Reg::R1, 59, yes);
}

void parse_ipv6(emit::Program& p, const flavor::FlavorOps& f, const Mode& m, const Layout& lay,
                Label& invalid, Label& none, Label& done) {
  slice_l3(p, f, 40, lay, none);
  if (m.validate) {
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    p.alu(AluOp::kRsh, Reg::R1, 4);
    p.jmp(Cond::kNe, Reg::R1, 6, invalid);
    p.ldx(Size::kH, Reg::R1, Reg::R0, 4);
    p.to_be(Reg::R1, 16);
    p.alu(AluOp::kAdd, Reg::R1, 40);
    flavor::emit_load_l3_len(p, Reg::R2, pkt_ref());
    p.jmp(Cond::kLt, Reg::R2, Reg::R1, invalid);
  }
  // tprot slot holds the header type being looked at; r9 its offset.
  p.ldx(Size::kB, Reg::R1, Reg::R0, 6);
  store_reg(p, kTprotSlot, Reg::R1);
  store_imm(p, kFragSlot, 0);
  const int walk = lay.ipv6_ext_headers > 0 ? lay.ipv6_ext_headers : kMaxIpv6ExtHeaders;
  if (lay.xt6) emit_xt6_walk(p, f, walk);  // x_tables' own walk first (xt6_walk.h): r1 = the next header
  p.mov(kL4Ptr, 40);
  Label found(p), tail(p);
  for (int i = 0; i < walk; ++i) {
    Label ext(p), frag(p), next(p);
    p.ldx(Size::kDW, Reg::R1, kPkt, rel(kTprotSlot));
    p.jmp(Cond::kEq, Reg::R1, 44, frag);
    p.jmp(Cond::kEq, Reg::R1, 0, ext);
    p.jmp(Cond::kEq, Reg::R1, 43, ext);
    p.jmp(Cond::kEq, Reg::R1, 60, ext);
    p.jmp(found);  // AH (IP6_FH_F_AUTH), NONE and every upper-layer protocol end the walk
    p.bind(ext);
    flavor::emit_slice_at(p, f, kL4Ptr, 0, 2, none, pkt_ref());
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    store_reg(p, kTprotSlot, Reg::R1);
    p.ldx(Size::kB, Reg::R2, Reg::R0, 1);
    p.alu(AluOp::kAdd, Reg::R2, 1);
    p.alu(AluOp::kLsh, Reg::R2, 3);  // ipv6_optlen
    p.alu(AluOp::kAdd, kL4Ptr, Reg::R2);
    p.jmp(next);
    p.bind(frag);
    flavor::emit_slice_at(p, f, kL4Ptr, 0, 4, none, pkt_ref());
    p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
    p.ldx(Size::kH, Reg::R2, Reg::R0, 2);
    p.to_be(Reg::R2, 16);
    p.alu(AluOp::kAnd, Reg::R2, 0xfff8);
    {
      auto first = p.jmp_fwd(Cond::kEq, Reg::R2, 0);
      // Non-first fragment: the protocol is reported when it is not an extension header, with no
      // readable transport header; otherwise ipv6_find_hdr fails (-ENOENT).
      jmp_if_ext(p, none, false);
      store_reg(p, kTprotSlot, Reg::R1);
      store_imm(p, kThoffSlot, 0);  // ipv6_find_hdr leaves nft's thoff at 0
      store_reg(p, kFragSlot, Reg::R2);
      p.jmp(tail);
    }
    store_reg(p, kTprotSlot, Reg::R1);
    p.alu(AluOp::kAdd, kL4Ptr, 8);
    p.bind(next);
    // The offset's range now depends on which kinds of header came before (a fragment header
    // adds exactly 8, others 8..2048): as many verifier states per step as there are mixes, so
    // verification grew quadratically with the walk. Forget the range (the same number at run
    // time, see forget_range) and bound it again: one state per step.
    forget_range(p, kL4Ptr);
    p.jmp(Cond::kGt, kL4Ptr, 0x7fff, none);
  }
  // After `walk` headers: an upper-layer protocol (or AH, NONE) is found; another extension
  // header means more than we walk: treated as no transport header.
  p.ldx(Size::kDW, Reg::R1, kPkt, rel(kTprotSlot));
  for (int32_t h : {0, 43, 44, 60}) p.jmp(Cond::kEq, Reg::R1, h, none);
  p.jmp(found);
  p.bind(found);
  store_reg(p, kThoffSlot, kL4Ptr);
  // Every walk depth leaves thoff with a different range, and the verifier would check the whole
  // rest of the program once per range (8 steps made random chains with jumps exceed its
  // 1M-instruction budget). XOR twice with an unknown value (the packet length, spread over both
  // halves): the same number at run time, the same unknown scalar for the verifier on every
  // path, so the paths merge at the rules.
  p.bind(tail);
  p.ldx(Size::kDW, Reg::R1, kPkt, rel(kThoffSlot));
  forget_range(p, Reg::R1);
  // Packet-pointer arithmetic needs a bound well under 64 KiB: a transport header 32 KiB or more
  // into the packet (only possible behind many large extension headers) counts as none.
  p.jmp(Cond::kGt, Reg::R1, 0x7fff, none);
  store_reg(p, kThoffSlot, Reg::R1);
  p.jmp(done);
}

}  // namespace

// reg ^= x; reg ^= x with x unknown to the verifier (the packet length, spread over both halves):
// the same number at run time, an unknown scalar for the verifier on every path, so paths that
// reach this point with different ranges for reg merge. Clobbers r2, r3.
void forget_range(emit::Program& p, Reg reg) {
  flavor::emit_load_l3_len(p, Reg::R2, pkt_ref());
  p.mov(Reg::R3, Reg::R2);
  p.alu(AluOp::kLsh, Reg::R3, 32);
  p.alu(AluOp::kOr, Reg::R3, Reg::R2);
  p.alu(AluOp::kXor, reg, Reg::R3);
  p.alu(AluOp::kXor, reg, Reg::R3);
}

Result<void> family_supported(const flavor::FlavorOps& f, ir::Family family) {
  switch (family) {
    case ir::Family::kIp:
    case ir::Family::kIp6:
    case ir::Family::kInet:
      return {};
    case ir::Family::kNetdev:
      if (l2_flavor(f.flavor)) return {};
      return failf(EOPNOTSUPP, "netdev tables run at device hooks (xdp/tcx), not at {}", f.name);
    default:
      return failf(EOPNOTSUPP, "{} tables are not supported by the BPF code generator", ir::Family(family) == ir::Family::kArp ? "arp" : "bridge");
  }
}

Result<void> emit_prologue(emit::Program& p, const flavor::FlavorOps& f, ir::Family family,
                           const Layout& lay, Label& not_applicable, Label& drop) {
  NFBPF_TRYV(family_supported(f, family));
  Mode m = mode_for(f, family);

  Label init_fail(p);
  f.emit_packet_init(p, init_fail);
  p.mov(kPkt, emit::kFrame);
  p.alu(AluOp::kAdd, kPkt, emit::kDynptrOff);
  if (lay.xt6) emit_xt6_failed(p);  // until the IPv6 parse runs x_tables' walk

  Label v4(p), v6(p), other(p), l4(p), none(p), invalid(p), rules(p);
  bool emit_v4 = m.v4, emit_v6 = m.v6;

  // ---- which L3 protocol (the first block below is the fall-through) ----
  if (f.flavor == Flavor::kNetfilter) {
    if (family == ir::Family::kIp) {
      emit_v6 = false;
    } else if (family == ir::Family::kIp6) {
      emit_v4 = false;
    } else {
      p.ldx(Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxStateOff);
      p.ldx(Size::kB, Reg::R1, Reg::R1, abi::kNfStatePfOff);
      p.jmp(Cond::kEq, Reg::R1, kNfprotoIpv6, v6);
    }
  } else {
    if (l2_flavor(f.flavor)) {
      flavor::emit_slice(p, f, static_cast<uint32_t>(-2), 2, not_applicable, pkt_ref());  // Ethernet type
      p.ldx(Size::kH, Reg::R1, Reg::R0, 0);
      p.to_be(Reg::R1, 16);
    } else {  // cgroup_skb: __sk_buff->protocol, network order
      p.ldx(Size::kW, Reg::R1, emit::kCtx, kSkbProtocolOff);
      p.to_be(Reg::R1, 16);
    }
    if (m.v6) p.jmp(Cond::kEq, Reg::R1, kEthIp6, v6);
    if (m.v4) p.jmp(Cond::kNe, Reg::R1, kEthIp, other);
    else p.jmp(other);
  }

  // ---- IPv4 / IPv6 ----
  // An invalid header is "no transport header" unless the hook drops it (inet ingress).
  Label& bad = m.invalid_drops ? invalid : none;
  if (emit_v4) {
    p.bind(v4);
    store_imm(p, kProtoSlot, kEthIp);
    store_imm(p, kNfprotoSlot, m.netdev ? kNfprotoNetdev : kNfprotoIpv4);
    parse_ipv4(p, f, m, lay, bad, none, l4);
  }
  if (emit_v6) {
    p.bind(v6);
    store_imm(p, kProtoSlot, kEthIp6);
    store_imm(p, kNfprotoSlot, m.netdev ? kNfprotoNetdev : kNfprotoIpv6);
    parse_ipv6(p, f, m, lay, bad, none, l4);
  }
  if (init_fail.referenced()) {
    p.bind(init_fail);
    p.jmp(not_applicable);
  }

  // ---- non-IP ----
  if (other.referenced()) {
    p.bind(other);
    if (m.other_runs) {
      store_reg(p, kProtoSlot, Reg::R1);
      store_imm(p, kNfprotoSlot, kNfprotoNetdev);
      p.mov(kL3Ptr, 0);
      p.mov(kL4Ptr, 0);
      no_l4(p);
      p.jmp(rules);
    } else {
      p.jmp(not_applicable);
    }
  }
  if (invalid.referenced()) {
    p.bind(invalid);
    p.jmp(drop);
  }
  if (none.referenced()) {
    p.bind(none);
    no_l4(p);  // falls into the transport slice, which finds no thoff
  }

  // ---- the transport header slice ----
  p.bind(l4);
  if (lay.l4_fast > 0) {
    Label absent(p);
    p.ldx(Size::kDW, kL4Ptr, kPkt, rel(kFragSlot));
    p.jmp(Cond::kNe, kL4Ptr, 0, absent);
    p.ldx(Size::kDW, kL4Ptr, kPkt, rel(kThoffSlot));
    p.jmp(Cond::kSlt, kL4Ptr, 0, absent);
    flavor::emit_slice_at(p, f, kL4Ptr, 0, lay.l4_fast, absent, pkt_ref());
    p.mov(kL4Ptr, Reg::R0);
    p.jmp(rules);
    p.bind(absent);
  }
  p.mov(kL4Ptr, 0);
  p.bind(rules);
  return {};
}

}  // namespace nfbpf::codegen::prologue
