// rt classid / ip nexthop / ip6 nexthop / ipsec and meta rtclassid: the packet's route, as
// nft_rt_get_eval reads it: dst = skb_dst(skb) (skb->_skb_refdst without the NOREF bit); no
// route breaks. The dst is only a number to the verifier, so it goes through bpf_rdonly_cast
// with the BTF id of the struct it is (dst_entry, or the rtable / rt6_info it is embedded in, at
// offset 0). nexthop: the hook's family must match (nft_pf) else break; rt_nexthop() = rt_gw4
// when rt_gw_family is AF_INET, else the packet's daddr; rt6_nexthop() = rt6i_gateway with
// RTF_GATEWAY, rt6i_dst.addr with RTF_CACHE, else daddr. Netfilter only (meta.cpp refuses the
// rest: nft allows rt in ip/ip6/inet tables only).
#include "codegen/flavor/packet.h"
#include "codegen/matcher/load.h"
#include "codegen/matcher/meta.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::KernelField;
using emit::KernelType;
using emit::Reg;
using emit::Size;

namespace {
constexpr int32_t kAfInet = 2, kRtfGateway = 0x2, kRtfCache = 0x01000000;

// r1 = the route cast to `type`, or jump to fail.
void dst_as(EmitCtx& c, KernelType type, emit::Label& fail) {
  emit::Program& p = c.p;
  emit_skb_ptr(c, Reg::R1);
  p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSkbRefDst);
  p.alu(AluOp::kAnd, Reg::R1, -2);  // SKB_DST_PTRMASK
  p.jmp(Cond::kEq, Reg::R1, 0, fail);
  p.mov_btf_type(Reg::R2, type);
  p.call_kfunc(emit::Kfunc::kRdonlyCast);
  p.mov(Reg::R1, Reg::R0);
}
}  // namespace

Result<Loaded> load_route_key(EmitCtx& c, const ir::Field& f, emit::Label& fail) {
  emit::Program& p = c.p;
  auto k = static_cast<ir::MetaKey>(f.key);
  switch (k) {
    case ir::MetaKey::kRtClassid:
      dst_as(c, KernelType::kDstEntry, fail);
      p.ldx_field(Size::kW, Reg::R1, Reg::R1, KernelField::kDstTclassid);
      if (f.len < 4) p.alu(AluOp::kAnd, Reg::R1, static_cast<int32_t>((1u << (8 * f.len)) - 1));
      if (!f.host_order && f.len == 4) p.to_be(Reg::R1, 32);
      return Loaded{Loaded::Kind::kReg, f.len};
    case ir::MetaKey::kRtIpsec: {
      dst_as(c, KernelType::kDstEntry, fail);
      p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kDstXfrm);
      // !!dst->xfrm, as a plain number on both paths (the pointer must not flow into compares).
      emit::Label none(p), done(p);
      p.jmp(Cond::kEq, Reg::R1, 0, none);
      p.mov(Reg::R1, 1);
      p.jmp(done);
      p.bind(none);
      p.mov(Reg::R1, 0);
      p.bind(done);
      return Loaded{Loaded::Kind::kReg, 1};
    }
    case ir::MetaKey::kRtNexthop4: {
      p.ldx(Size::kDW, Reg::R1, prologue::kPkt, prologue::rel(prologue::kNfprotoSlot));
      p.jmp(Cond::kNe, Reg::R1, kAfInet, fail);
      dst_as(c, KernelType::kRtable, fail);
      p.ldx_field(Size::kB, Reg::R2, Reg::R1, KernelField::kRtableGwFamily);
      emit::Label daddr(p), done(p);
      p.jmp(Cond::kNe, Reg::R2, kAfInet, daddr);
      p.ldx_field(Size::kW, Reg::R1, Reg::R1, KernelField::kRtableGw4);
      p.jmp(done);
      p.bind(daddr);
      flavor::emit_slice(p, c.f, 16, 4, fail, prologue::pkt_ref());
      p.ldx(Size::kW, Reg::R1, Reg::R0, 0);
      p.bind(done);
      return Loaded{Loaded::Kind::kReg, 4};
    }
    case ir::MetaKey::kRtNexthop6: {
      auto slot = c.stack.alloc(16);
      if (!slot) return std::unexpected(std::move(slot).error());
      p.ldx(Size::kDW, Reg::R1, prologue::kPkt, prologue::rel(prologue::kNfprotoSlot));
      p.jmp(Cond::kNe, Reg::R1, 10, fail);
      dst_as(c, KernelType::kRt6Info, fail);
      p.ldx_field(Size::kW, Reg::R2, Reg::R1, KernelField::kRt6Flags);
      emit::Label cache(p), daddr(p), copied(p);
      {
        p.mov(Reg::R3, Reg::R2);
        p.alu(AluOp::kAnd, Reg::R3, kRtfGateway);
        p.jmp(Cond::kEq, Reg::R3, 0, cache);
        for (int16_t half : {0, 8}) {
          p.ldx_field(Size::kDW, Reg::R3, Reg::R1, KernelField::kRt6Gateway, half);
          p.stx(Size::kDW, kTmp, at(static_cast<int16_t>(*slot + half)), Reg::R3);
        }
        p.jmp(copied);
      }
      p.bind(cache);
      p.alu(AluOp::kAnd, Reg::R2, kRtfCache);
      p.jmp(Cond::kEq, Reg::R2, 0, daddr);
      for (int16_t half : {0, 8}) {
        p.ldx_field(Size::kDW, Reg::R3, Reg::R1, KernelField::kRt6DstAddr, half);
        p.stx(Size::kDW, kTmp, at(static_cast<int16_t>(*slot + half)), Reg::R3);
      }
      p.jmp(copied);
      p.bind(daddr);
      flavor::emit_slice(p, c.f, 24, 16, fail, prologue::pkt_ref());
      for (int16_t half : {0, 8}) {
        p.ldx(Size::kDW, Reg::R3, Reg::R0, half);
        p.stx(Size::kDW, kTmp, at(static_cast<int16_t>(*slot + half)), Reg::R3);
      }
      p.bind(copied);
      p.mov(Reg::R1, kTmp);
      p.alu(AluOp::kAdd, Reg::R1, at(*slot));
      return Loaded{Loaded::Kind::kMem, 16};
    }
    default:
      return failf(EOPNOTSUPP, "{}: not a route key", field_label(f));
  }
}

}  // namespace nfbpf::codegen::matcher
