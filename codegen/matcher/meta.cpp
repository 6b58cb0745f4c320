// meta keys: what each flavor's context offers (load.h says which keys are refused where).
//   nfproto, l4proto, protocol: the prologue's state slots
//   len      skb->len: the L3 length, plus the Ethernet header at tc egress (skb->data is the frame)
//   mark, priority: netfilter ctx->skb through BTF; tc/cgroup __sk_buff; (XDP has no skb: refused)
//   iif/oif  netfilter ctx->state->in/out (NULL reads 0, as nft); XDP ingress_ifindex; tc ifindex
//   iifname/oifname: the device's name (no device reads 16 zero bytes, as nft): netfilter
//            state->in/out; tc skb->dev (bpf_cast_to_kern_ctx: the __sk_buff is an sk_buff) as
//            the input device at ingress, the output device at egress
//   pkttype  tc and cgroup_skb: __sk_buff->pkt_type; netfilter: the sk_buff's pkt_type bitfield
//            through BTF (sk_buff.__pkt_type_offset & 7); loopback resolved as nft does
//   iifgroup/oifgroup, oiftype: the hook's in/out device (netfilter state->in/out; tc skb->dev on
//            its own side); no device breaks. iiftype is NFT_META_IFTYPE: skb->dev (at
//            postrouting the output device), no device breaks
//   skuid/skgid/cgroup: the owning socket (meta_socket.cpp); netfilter, tc, cgroup_skb
//   cpu      bpf_get_smp_processor_id; random bpf_get_prandom_u32 (nft's own PRNG state cannot
//            be reproduced, only its distribution); time/day/hour: meta_clock.cpp
#include "codegen/abi/netfilter.h"
#include "codegen/flavor/packet.h"
#include "codegen/matcher/load.h"
#include "codegen/matcher/meta.h"

#include <linux/bpf.h>
#include "translate/ir/fields.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::KernelField;
using emit::Reg;
using emit::Size;
using flavor::Flavor;
using prologue::kPkt;
using prologue::rel;

namespace {

// struct __sk_buff / struct xdp_md offsets (UAPI, stable).
constexpr int16_t kSkPktType = 4, kSkMark = 8, kSkPriority = 32, kSkIfindex = 40;
constexpr int32_t kPacketBroadcast = 1, kPacketMulticast = 2, kPacketLoopback = 5;
constexpr int16_t kXdpIngressIfindex = 12;

void truncate(emit::Program& p, uint32_t len, uint32_t width) {
  if (len < width && len < 8) p.alu(AluOp::kAnd, Reg::R1, static_cast<int32_t>((1ull << (8 * len)) - 1));
}

// r1 = the netfilter hook state's in (or out) device pointer, possibly NULL.
void nf_dev(emit::Program& p, bool out) {
  p.ldx(Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxStateOff);
  p.ldx(Size::kDW, Reg::R1, Reg::R1, out ? abi::kNfStateOutOff : abi::kNfStateInOff);
}

bool tc_flavor(Flavor f) { return f == Flavor::kTcxIngress || f == Flavor::kTcxEgress; }
bool cgroup_flavor(Flavor f) { return f == Flavor::kCgroupSkbIngress || f == Flavor::kCgroupSkbEgress; }

}  // namespace

void emit_hook_dev(EmitCtx& c, bool out) {
  emit::Program& p = c.p;
  if (c.f.flavor == Flavor::kNetfilter) {
    nf_dev(p, out);
  } else if (tc_flavor(c.f.flavor) && out == (c.f.flavor == Flavor::kTcxEgress)) {
    emit_skb_ptr(c, Reg::R1);
    p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSkbDev);
  } else {
    p.mov(Reg::R1, 0);
  }
}

void emit_skb_ptr(EmitCtx& c, Reg dst) {
  emit::Program& p = c.p;
  if (c.f.flavor == Flavor::kNetfilter) {
    p.ldx(Size::kDW, dst, emit::kCtx, abi::kNfCtxSkbOff);
    return;
  }
  // tc and cgroup_skb: the __sk_buff context is an sk_buff; the kfunc returns it as a trusted BTF
  // pointer.
  p.mov(Reg::R1, emit::kCtx);
  p.call_kfunc(emit::Kfunc::kCastToKernCtx);
  p.mov(dst, Reg::R0);
}

Result<void> meta_supported(const flavor::FlavorOps& fl, const ir::Field& f) {
  auto k = static_cast<ir::MetaKey>(f.key);
  Flavor v = fl.flavor;
  bool nf = v == Flavor::kNetfilter, xdp = v == Flavor::kXdp, tcx = tc_flavor(v), cg = cgroup_flavor(v);
  bool ok = false;
  std::string_view why;
  switch (k) {
    case ir::MetaKey::kNfProto:
    case ir::MetaKey::kL4Proto:
    case ir::MetaKey::kProtocol:
    case ir::MetaKey::kLen:
    case ir::MetaKey::kCpu:
    case ir::MetaKey::kRandom:
    case ir::MetaKey::kTime:
    case ir::MetaKey::kDay:
    case ir::MetaKey::kHour:
    case ir::MetaKey::kXtL4Proto:  // the prologue's x_tables walk (any flavor)
    case ir::MetaKey::kXtFragOff: ok = true; break;
    case ir::MetaKey::kMark:
    case ir::MetaKey::kPriority: ok = !xdp; why = " (no sk_buff)"; break;
    case ir::MetaKey::kIif:
    case ir::MetaKey::kOif: ok = nf || xdp || tcx; why = " (no device)"; break;
    case ir::MetaKey::kIifName:
    case ir::MetaKey::kOifName:
    case ir::MetaKey::kIifGroup:
    case ir::MetaKey::kOifGroup:
    case ir::MetaKey::kIifType:
    case ir::MetaKey::kOifType: ok = nf || tcx; why = xdp ? " (no sk_buff)" : " (no hook devices)"; break;
    case ir::MetaKey::kPktType: ok = nf || tcx || cg; why = " (no sk_buff)"; break;
    case ir::MetaKey::kSkUid:
    case ir::MetaKey::kSkGid:
    case ir::MetaKey::kCgroup: ok = nf || tcx || cg; why = " (no sk_buff, so no socket)"; break;
    case ir::MetaKey::kSecPath: why = " (the skb's secpath extension is not readable from BPF)"; break;
    case ir::MetaKey::kRtClassid:
    case ir::MetaKey::kRtNexthop4:
    case ir::MetaKey::kRtNexthop6:
    case ir::MetaKey::kRtIpsec: ok = nf; why = " (the route is read at netfilter hooks only)"; break;
    case ir::MetaKey::kIifKind:
    case ir::MetaKey::kOifKind: why = " (not supported yet)"; break;
    default: break;
  }
  if (!ok) return failf(EOPNOTSUPP, "{} cannot be read at {} hooks{}", field_label(f), fl.name, why);
  uint32_t width = k == ir::MetaKey::kIifName || k == ir::MetaKey::kOifName || k == ir::MetaKey::kRtNexthop6 ? 16
                   : k == ir::MetaKey::kRtIpsec ? 1
                   : k == ir::MetaKey::kTime ? 8
                   : k == ir::MetaKey::kNfProto || k == ir::MetaKey::kL4Proto || k == ir::MetaKey::kPktType ||
                             k == ir::MetaKey::kDay ? 1
                   : k == ir::MetaKey::kProtocol || k == ir::MetaKey::kIifType || k == ir::MetaKey::kOifType ||
                             k == ir::MetaKey::kXtL4Proto || k == ir::MetaKey::kXtFragOff ? 2
                   : 4;
  if (f.len == 0 || f.len > width) return failf(EOPNOTSUPP, "{}: a {}-byte load of a {}-byte key", field_label(f), f.len, width);
  if ((width == 8 || k == ir::MetaKey::kRtNexthop4 || k == ir::MetaKey::kRtNexthop6) && f.len != width) return failf(EOPNOTSUPP, "{}: a {}-byte load of a {}-byte key", field_label(f), f.len, width);
  return {};
}

void emit_skb_len(EmitCtx& c, Reg dst) {
  flavor::emit_load_l3_len(c.p, dst, prologue::pkt_ref());
  if (c.f.flavor == Flavor::kTcxEgress) c.p.alu(AluOp::kAdd, dst, static_cast<int32_t>(c.f.l3_offset));
}

Result<Loaded> load_meta(EmitCtx& c, const ir::Field& f, emit::Label& fail) {
  emit::Program& p = c.p;
  auto k = static_cast<ir::MetaKey>(f.key);
  Flavor fl = c.f.flavor;
  uint32_t width = 4;
  switch (k) {
    case ir::MetaKey::kNfProto:
      p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kNfprotoSlot));
      width = 1;
      break;
    case ir::MetaKey::kL4Proto:
      p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kTprotSlot));
      p.jmp(Cond::kSlt, Reg::R1, 0, fail);
      width = 1;
      break;
    case ir::MetaKey::kXtL4Proto:  // never fails: ir::kXtWalkFailed when the walk did
    case ir::MetaKey::kXtFragOff:
      p.ldx(Size::kDW, Reg::R1, kPkt, rel(k == ir::MetaKey::kXtL4Proto ? prologue::kXtTprotSlot : prologue::kXtFragSlot));
      width = 2;
      break;
    case ir::MetaKey::kProtocol:
      p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kProtoSlot));
      p.to_be(Reg::R1, 16);  // the register holds skb->protocol as stored: big endian
      width = 2;
      break;
    case ir::MetaKey::kLen:
      emit_skb_len(c, Reg::R1);
      break;
    case ir::MetaKey::kMark:
    case ir::MetaKey::kPriority: {
      bool mark = k == ir::MetaKey::kMark;
      if (fl == Flavor::kNetfilter) {
        p.ldx(Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxSkbOff);
        p.ldx_field(Size::kW, Reg::R1, Reg::R1, mark ? KernelField::kSkbMark : KernelField::kSkbPriority);
      } else {
        p.ldx(Size::kW, Reg::R1, emit::kCtx, mark ? kSkMark : kSkPriority);
      }
      break;
    }
    case ir::MetaKey::kIif:
    case ir::MetaKey::kOif: {
      bool out = k == ir::MetaKey::kOif;
      if (fl == Flavor::kNetfilter) {
        nf_dev(p, out);
        emit::Label dev(p), done(p);
        p.jmp(Cond::kNe, Reg::R1, 0, dev);
        p.mov(Reg::R1, 0);  // no device: ifindex 0 (the NULL pointer must become a plain scalar)
        p.jmp(done);
        p.bind(dev);
        p.ldx_field(Size::kW, Reg::R1, Reg::R1, KernelField::kNetDeviceIfindex);
        p.bind(done);
      } else if (fl == Flavor::kXdp) {
        if (out) p.mov(Reg::R1, 0);
        else p.ldx(Size::kW, Reg::R1, emit::kCtx, kXdpIngressIfindex);
      } else {
        bool dev_is_out = fl == Flavor::kTcxEgress;
        if (out == dev_is_out) p.ldx(Size::kW, Reg::R1, emit::kCtx, kSkIfindex);
        else p.mov(Reg::R1, 0);
      }
      break;
    }
    case ir::MetaKey::kIifName:
    case ir::MetaKey::kOifName: {
      auto slot = c.stack.alloc(16);
      if (!slot) return std::unexpected(std::move(slot).error());
      bool out = k == ir::MetaKey::kOifName;
      if (fl == Flavor::kNetfilter) {
        nf_dev(p, out);
      } else if (out == (fl == Flavor::kTcxEgress)) {
        // tc: the sk_buff behind the __sk_buff context; its dev is the device the packet is on.
        p.mov(Reg::R1, emit::kCtx);
        p.call_kfunc(emit::Kfunc::kCastToKernCtx);
        p.ldx_field(Size::kDW, Reg::R1, Reg::R0, KernelField::kSkbDev);
      } else {
        p.mov(Reg::R1, 0);  // no output device at ingress, no input device at egress
      }
      {
        emit::Label named(p), done(p);
        p.jmp(Cond::kNe, Reg::R1, 0, named);
        p.st(Size::kDW, kTmp, at(*slot), 0);
        p.st(Size::kDW, kTmp, at(static_cast<int16_t>(*slot + 8)), 0);
        p.jmp(done);
        p.bind(named);
        p.ldx_field(Size::kDW, Reg::R2, Reg::R1, KernelField::kNetDeviceName, 0);
        p.stx(Size::kDW, kTmp, at(*slot), Reg::R2);
        p.ldx_field(Size::kDW, Reg::R2, Reg::R1, KernelField::kNetDeviceName, 8);
        p.stx(Size::kDW, kTmp, at(static_cast<int16_t>(*slot + 8)), Reg::R2);
        p.bind(done);
      }
      p.mov(Reg::R1, kTmp);
      p.alu(AluOp::kAdd, Reg::R1, at(*slot));
      return Loaded{Loaded::Kind::kMem, f.len};
    }
    case ir::MetaKey::kPktType: {
      // skb->pkt_type; looped-back packets report their destination class instead
      // (nft_meta_get_eval_pkttype_lo): IPv6 multicast, IPv4 multicast or broadcast by daddr,
      // other protocols break.
      if (fl == Flavor::kNetfilter) {
        // A 3-bit bitfield: read its byte as the kernel's __sk_buff rewrite does (little endian:
        // the low bits; PKT_TYPE_MAX).
        p.ldx(Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxSkbOff);
        p.ldx_field(Size::kB, Reg::R1, Reg::R1, KernelField::kSkbPktTypeOffset);
        p.alu(AluOp::kAnd, Reg::R1, 7);
      } else {
        p.ldx(Size::kW, Reg::R1, emit::kCtx, kSkPktType);
      }
      emit::Label done(p), v4(p);
      p.jmp(Cond::kNe, Reg::R1, kPacketLoopback, done);
      p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kProtoSlot));
      p.jmp(Cond::kEq, Reg::R1, 0x0800, v4);
      p.jmp(Cond::kNe, Reg::R1, 0x86dd, fail);
      p.mov(Reg::R1, kPacketMulticast);
      p.jmp(done);
      p.bind(v4);
      flavor::emit_slice(p, c.f, 16, 1, fail, prologue::pkt_ref());
      p.ldx(Size::kB, Reg::R1, Reg::R0, 0);
      p.alu(AluOp::kAnd, Reg::R1, 0xf0);
      {
        auto mc = p.jmp_fwd(Cond::kEq, Reg::R1, 0xe0);
        p.mov(Reg::R1, kPacketBroadcast);
        p.jmp(done);
      }
      p.mov(Reg::R1, kPacketMulticast);
      p.bind(done);
      width = 1;
      break;
    }
    case ir::MetaKey::kIifGroup:
    case ir::MetaKey::kOifGroup:
    case ir::MetaKey::kOifType:
    case ir::MetaKey::kIifType: {
      bool type = k == ir::MetaKey::kIifType || k == ir::MetaKey::kOifType;
      if (k == ir::MetaKey::kIifType) {
        // NFT_META_IFTYPE reads skb->dev, not the hook's input device.
        emit_skb_ptr(c, Reg::R1);
        p.ldx_field(Size::kDW, Reg::R1, Reg::R1, KernelField::kSkbDev);
      } else {
        emit_hook_dev(c, k != ir::MetaKey::kIifGroup);
      }
      p.jmp(Cond::kEq, Reg::R1, 0, fail);
      p.ldx_field(type ? Size::kH : Size::kW, Reg::R1, Reg::R1, type ? KernelField::kNetDeviceType : KernelField::kNetDeviceGroup);
      width = type ? 2 : 4;
      break;
    }
    case ir::MetaKey::kSkUid:
    case ir::MetaKey::kSkGid:
    case ir::MetaKey::kCgroup:
      emit_socket_key(c, k, fail);
      break;
    case ir::MetaKey::kCpu:
    case ir::MetaKey::kRandom:
      p.call_helper(k == ir::MetaKey::kCpu ? BPF_FUNC_get_smp_processor_id : BPF_FUNC_get_prandom_u32);
      p.mov(Reg::R1, Reg::R0);
      break;
    case ir::MetaKey::kRtClassid:
    case ir::MetaKey::kRtNexthop4:
    case ir::MetaKey::kRtNexthop6:
    case ir::MetaKey::kRtIpsec:
      return load_route_key(c, f, fail);
    case ir::MetaKey::kTime:
    case ir::MetaKey::kDay:
    case ir::MetaKey::kHour:
      NFBPF_TRYV(emit_clock_key(c, k));
      width = k == ir::MetaKey::kTime ? 8 : k == ir::MetaKey::kDay ? 1 : 4;
      break;
    default:
      return failf(EOPNOTSUPP, "{} cannot be read at {} hooks", field_label(f), c.f.name);
  }
  if (f.len != 1 && f.len != 2 && f.len != 4 && !(f.len == 8 && width == 8))
    return failf(EOPNOTSUPP, "{}: {}-byte loads are not supported", field_label(f), f.len);
  truncate(p, f.len, width);
  // The IR gives a value as it sits in nft's register. nft converts host-order keys (length,
  // mark, ...) to network order before ordered and interval compares (a byteorder expression,
  // folded into the field as host_order = false): hold the same bytes, i.e. swap them.
  if (!f.host_order && ir::natively_host_order(f) && (f.len == 2 || f.len == 4 || f.len == 8)) p.to_be(Reg::R1, 8 * static_cast<int>(f.len));
  return Loaded{Loaded::Kind::kReg, f.len};
}

}  // namespace nfbpf::codegen::matcher
