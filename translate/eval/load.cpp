#include "translate/eval/load.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "translate/eval/exthdr.h"
#include "translate/ir/fields.h"

namespace nfbpf::eval {

namespace {

constexpr uint8_t kPacketBroadcast = 1, kPacketMulticast = 2, kPacketLoopback = 5;
constexpr uint16_t kEthIp = 0x0800, kEthIp6 = 0x86dd;

// A register word image of a host-order integer of `width` bytes.
void store_host(uint8_t* w, uint64_t v, uint32_t width) { std::memcpy(w, &v, width); }

bool load_payload(const Env& env, const ir::Field& f, uint8_t* out, std::string& why) {
  int64_t base = 0;
  switch (f.base) {
    case ir::Base::kLink:
      if (!env.skb.mac) {
        why = "no link-layer header";
        return false;
      }
      base = static_cast<int64_t>(*env.skb.mac) - env.skb.data;
      break;
    case ir::Base::kNetwork:
      base = env.skb.network_offset();
      break;
    case ir::Base::kXtTransport:
      // x_tables' matches: par->fragoff != 0 fails them before any read.
      if (!env.xt.ok) {
        why = "x_tables' IPv6 walk failed";
        return false;
      }
      if (env.xt.fragoff) {
        why = fmt::format("non-first fragment (offset {})", env.xt.fragoff);
        return false;
      }
      base = env.xt.thoff;
      break;
    case ir::Base::kTransport: {
      if (!env.pkt.l4) {
        why = "no transport protocol";
        return false;
      }
      base = env.pkt.thoff;
      // nft_payload_fast_eval (loads of 1, 2 or 4 aligned bytes) checks only NFT_PKTINFO_L4PROTO,
      // not the fragment offset: on a non-first fragment it reads the bytes at thoff anyway (for
      // IPv6, thoff is then 0, the IPv6 header). Only when it runs off the end does the slow path
      // nft_payload_eval run, and that one refuses non-first fragments. Verified against the
      // kernel (kernel_diff_test).
      bool fast = (f.len == 1 || f.len == 2 || f.len == 4) && f.offset % f.len == 0;
      if (fast && env.skb.copy(base + f.offset, out, f.len)) return true;
      if (env.pkt.fragoff) {
        why = fmt::format("non-first fragment (offset {})", env.pkt.fragoff);
        return false;
      }
      break;
    }
    default:
      break;
  }
  if (!env.skb.copy(base + f.offset, out, f.len)) {
    why = fmt::format("{} bytes at {}+{} beyond the packet ({} bytes)", f.len, to_string_base(f.base), f.offset,
                      env.skb.len());
    return false;
  }
  return true;
}

void store_ifname(uint8_t* w, const std::optional<Device>& d) {
  std::memset(w, 0, 16);
  if (d) std::memcpy(w, d->name.data(), std::min<size_t>(d->name.size(), 15));
}

bool load_meta(const Env& env, const ir::Field& f, uint8_t* w, std::string& why, bool& unsupported) {
  const PacketContext& c = *env.ctx;
  auto key = static_cast<ir::MetaKey>(f.key);
  auto need_dev = [&](const std::optional<Device>& d, std::string_view which) {
    if (!d) why = fmt::format("no {} device", which);
    return d.has_value();
  };
  switch (key) {
    case ir::MetaKey::kLen: store_host(w, env.skb.len(), 4); return true;
    case ir::MetaKey::kProtocol: w[0] = static_cast<uint8_t>(env.protocol >> 8); w[1] = static_cast<uint8_t>(env.protocol); return true;
    case ir::MetaKey::kNfProto: w[0] = env.nfproto; return true;
    case ir::MetaKey::kL4Proto:
      if (!env.pkt.l4) {
        why = "no transport protocol";
        return false;
      }
      w[0] = env.pkt.tprot;
      return true;
    case ir::MetaKey::kXtL4Proto: store_host(w, env.xt.ok ? env.xt.tprot : ir::kXtWalkFailed, 2); return true;
    case ir::MetaKey::kXtFragOff: store_host(w, env.xt.ok ? env.xt.fragoff : 0, 2); return true;
    case ir::MetaKey::kMark: store_host(w, env.mark, 4); return true;
    case ir::MetaKey::kPriority: store_host(w, env.priority, 4); return true;
    case ir::MetaKey::kIif: store_host(w, c.in ? c.in->ifindex : 0, 4); return true;
    case ir::MetaKey::kOif: store_host(w, c.out ? c.out->ifindex : 0, 4); return true;
    case ir::MetaKey::kIifName: store_ifname(w, c.in); return true;
    case ir::MetaKey::kOifName: store_ifname(w, c.out); return true;
    case ir::MetaKey::kIifType: {
      // NFT_META_IIFTYPE reads skb->dev (nft_meta's NFT_META_IFTYPE alias), not the hook's input
      // device: at egress it is the output device (kernel-verified). Model of skb->dev: the
      // input device when there is one, else the output device at postrouting/egress (set by
      // then), else none (locally generated packets at output).
      const std::optional<Device>* dev = &c.in;
      if (!c.in && (c.hook == ir::Hook::kPostrouting || c.hook == ir::Hook::kEgress)) dev = &c.out;
      if (c.skb_dev) dev = &c.skb_dev;  // given explicitly (test runs: lo, whatever the hook)
      if (!need_dev(*dev, "skb")) return false;
      store_host(w, (*dev)->type, 2);
      return true;
    }
    case ir::MetaKey::kOifType:
      if (!need_dev(c.out, "output")) return false;
      store_host(w, c.out->type, 2);
      return true;
    case ir::MetaKey::kIifGroup:
      if (!need_dev(c.in, "input")) return false;
      store_host(w, c.in->group, 4);
      return true;
    case ir::MetaKey::kOifGroup:
      if (!need_dev(c.out, "output")) return false;
      store_host(w, c.out->group, 4);
      return true;
    case ir::MetaKey::kIifKind:
    case ir::MetaKey::kOifKind: {
      const auto& d = key == ir::MetaKey::kIifKind ? c.in : c.out;
      if (!d || d->kind.empty()) {
        why = "no device kind";
        return false;
      }
      std::memset(w, 0, 16);
      std::memcpy(w, d->kind.data(), std::min<size_t>(d->kind.size(), 15));
      return true;
    }
    case ir::MetaKey::kSkUid:
    case ir::MetaKey::kSkGid: {
      const auto& v = key == ir::MetaKey::kSkUid ? c.sk_uid : c.sk_gid;
      if (!v) {
        why = "no socket";
        return false;
      }
      store_host(w, *v, 4);
      return true;
    }
    case ir::MetaKey::kPktType: {
      if (c.pkttype != kPacketLoopback) {
        w[0] = c.pkttype;
        return true;
      }
      // Looped-back packets report their destination class, as nft_meta_get_eval_pkttype_lo.
      bool v4 = env.nfproto == 2 || (env.nfproto == 5 && env.protocol == kEthIp);
      bool v6 = env.nfproto == 10 || (env.nfproto == 5 && env.protocol == kEthIp6);
      if (v6) {
        w[0] = kPacketMulticast;
        return true;
      }
      if (!v4) {
        why = "loopback pkttype of a non-IP packet";
        return false;
      }
      uint8_t daddr[4];
      if (!env.skb.copy(env.skb.network_offset() + 16, daddr, 4)) {
        why = "no IPv4 header";
        return false;
      }
      w[0] = (daddr[0] & 0xf0) == 0xe0 ? kPacketMulticast : kPacketBroadcast;
      return true;
    }
    case ir::MetaKey::kCpu: store_host(w, c.cpu, 4); return true;
    case ir::MetaKey::kCgroup:
      if (!c.cgroup_classid) {
        why = "no socket cgroup";
        return false;
      }
      store_host(w, *c.cgroup_classid, 4);
      return true;
    case ir::MetaKey::kRandom: store_host(w, c.random, 4); return true;
    case ir::MetaKey::kSecPath: w[0] = 0; return true;  // no IPsec state in this model
    case ir::MetaKey::kTime: store_host(w, c.now_ns, 8); return true;
    case ir::MetaKey::kDay: {
      uint64_t days = c.now_ns / 1000000000ull / 86400;
      w[0] = static_cast<uint8_t>((4 + days) % 7);  // 1970-01-01 was a Thursday (4)
      return true;
    }
    case ir::MetaKey::kHour: store_host(w, (c.now_ns / 1000000000ull) % 86400, 4); return true;
    case ir::MetaKey::kRtClassid:
    case ir::MetaKey::kRtNexthop4:
    case ir::MetaKey::kRtNexthop6:
    case ir::MetaKey::kRtIpsec: {
      if (!c.route) {
        why = "no route";
        return false;
      }
      if (key == ir::MetaKey::kRtClassid) store_host(w, c.route->tclassid, 4);
      if (key == ir::MetaKey::kRtIpsec) w[0] = c.route->xfrm ? 1 : 0;
      bool v6 = key == ir::MetaKey::kRtNexthop6;
      if (key == ir::MetaKey::kRtNexthop4 || v6) {
        if (env.nfproto != (v6 ? 10 : 2)) {  // nft_pf(pkt)
          why = "rt nexthop of the other family";
          return false;
        }
        if (v6 && c.route->gw6) std::memcpy(w, c.route->gw6->data(), 16);
        else if (!v6 && c.route->gw4) std::memcpy(w, c.route->gw4->data(), 4);
        else if (!env.skb.copy(env.skb.network_offset() + (v6 ? 24 : 16), w, v6 ? 16 : 4)) {
          why = "no IP header";
          return false;
        }
      }
      return true;
    }
    default:
      unsupported = true;
      why = fmt::format("meta {} not modelled", ir::to_string(key));
      return false;
  }
}

bool load_ct(const Env& env, const ir::Field& f, uint8_t* w, std::string& why, bool& unsupported) {
  const PacketContext& c = *env.ctx;
  auto key = static_cast<ir::CtKey>(f.key);
  if (key == ir::CtKey::kState) {
    uint32_t state;
    if (c.ct) state = 1u << (c.ct->ctinfo % 3 + 1);  // NF_CT_STATE_BIT (IP_CT_IS_REPLY == 3)
    else if (c.ct_untracked) state = 1u << 6;        // NF_CT_STATE_UNTRACKED_BIT
    else state = 1u;                                 // NF_CT_STATE_INVALID_BIT
    store_host(w, state, 4);
    return true;
  }
  if (!c.ct) {
    why = "no conntrack entry";
    return false;
  }
  // nft_ct_get_eval: the tuple of the expression's direction (NFT_CT_SRC/DST need one).
  const Conntrack::Tuple& t = c.ct->tuple[f.dir == ir::CtDir::kReply ? 1 : 0];
  const bool v4 = c.ct->l3num == 2, v6 = c.ct->l3num == 10;
  switch (key) {
    case ir::CtKey::kDirection: w[0] = c.ct->ctinfo >= 3 ? 1 : 0; return true;
    case ir::CtKey::kStatus: store_host(w, c.ct->status, 4); return true;
    case ir::CtKey::kMark: store_host(w, c.ct->mark, 4); return true;
    case ir::CtKey::kSecmark: store_host(w, c.ct->secmark, 4); return true;
    case ir::CtKey::kExpiration: store_host(w, c.ct->expires_ms, 4); return true;
    case ir::CtKey::kZone: {
      // nf_ct_zone_id: with a direction, the id only where the zone applies (zone->dir bit).
      bool applies = f.dir == ir::CtDir::kAny || (c.ct->zone_dir & (f.dir == ir::CtDir::kReply ? 2 : 1));
      store_host(w, applies ? c.ct->zone : 0, 2);
      return true;
    }
    case ir::CtKey::kL3Proto: w[0] = c.ct->l3num; return true;
    case ir::CtKey::kProtocol: w[0] = c.ct->protonum; return true;
    case ir::CtKey::kPkts:
    case ir::CtKey::kBytes:
    case ir::CtKey::kAvgPkt: {
      // nft_ct_get_eval_counter: one direction, or both summed; 0 without the extension.
      auto sum = [&](const std::array<uint64_t, 2>& v) {
        if (!c.ct->acct) return uint64_t{0};
        return f.dir == ir::CtDir::kAny ? v[0] + v[1] : v[f.dir == ir::CtDir::kReply ? 1 : 0];
      };
      uint64_t v = key == ir::CtKey::kPkts    ? sum(c.ct->packets)
                   : key == ir::CtKey::kBytes ? sum(c.ct->bytes)
                   : sum(c.ct->packets) == 0  ? 0
                                              : sum(c.ct->bytes) / sum(c.ct->packets);
      store_host(w, v, 8);
      return true;
    }
    case ir::CtKey::kLabels: std::memcpy(w, c.ct->labels.data(), 16); return true;
    case ir::CtKey::kSrc: std::memcpy(w, t.src.data(), 16); return true;  // 4 or 16 meaningful bytes
    case ir::CtKey::kDst: std::memcpy(w, t.dst.data(), 16); return true;
    case ir::CtKey::kProtoSrc: std::memcpy(w, &t.sport_be, 2); return true;
    case ir::CtKey::kProtoDst: std::memcpy(w, &t.dport_be, 2); return true;
    case ir::CtKey::kSrcIp:
    case ir::CtKey::kDstIp:
      if (!v4) {
        why = "conntrack entry is not IPv4";
        return false;
      }
      std::memcpy(w, (key == ir::CtKey::kSrcIp ? t.src : t.dst).data(), 4);
      return true;
    case ir::CtKey::kSrcIp6:
    case ir::CtKey::kDstIp6:
      if (!v6) {
        why = "conntrack entry is not IPv6";
        return false;
      }
      std::memcpy(w, (key == ir::CtKey::kSrcIp6 ? t.src : t.dst).data(), 16);
      return true;
    default:
      unsupported = true;
      why = fmt::format("ct {} not modelled", ir::to_string(key));
      return false;
  }
}

}  // namespace

bool load_field(const Env& env, const ir::Field& f, uint8_t* out, std::string& why, bool& unsupported) {
  uint32_t padded = (f.len + 3) & ~3u;
  std::memset(out, 0, padded);
  switch (f.base) {
    case ir::Base::kLink:
    case ir::Base::kNetwork:
    case ir::Base::kTransport:
    case ir::Base::kXtTransport:
      return load_payload(env, f, out, why);
    case ir::Base::kExtHdr:
      return load_exthdr(env, f, out, why, unsupported);
    case ir::Base::kMeta:
    case ir::Base::kCt: {
      // Meta/ct keys store a fixed-width value; the field reads its first `len` bytes of it.
      uint8_t w[16] = {};
      bool ok = f.base == ir::Base::kMeta ? load_meta(env, f, w, why, unsupported) : load_ct(env, f, w, why, unsupported);
      if (!ok) return false;
      if (f.len > sizeof(w)) {
        unsupported = true;
        why = fmt::format("{}-byte meta/ct load", f.len);
        return false;
      }
      std::memcpy(out, w, f.len);
      // A host-order key that nft converted to network order (Field::host_order = false).
      if (!f.host_order && ir::natively_host_order(f) && (f.len == 2 || f.len == 4 || f.len == 8))
        std::reverse(out, out + f.len);
      return true;
    }
    default:
      unsupported = true;
      why = "unknown base";
      return false;
  }
}

std::string_view to_string_base(ir::Base b) {
  switch (b) {
    case ir::Base::kLink: return "link";
    case ir::Base::kNetwork: return "network";
    case ir::Base::kTransport: return "transport";
    case ir::Base::kXtTransport: return "x_tables transport";
    case ir::Base::kMeta: return "meta";
    case ir::Base::kCt: return "ct";
    case ir::Base::kExtHdr: return "exthdr";
    default: return "?";
  }
}

}  // namespace nfbpf::eval
