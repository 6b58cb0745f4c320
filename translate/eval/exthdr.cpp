#include "translate/eval/exthdr.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "translate/ir/fields.h"

namespace nfbpf::eval {

namespace {

constexpr uint8_t kHop = 0, kRouting = 43, kFragment = 44, kAuth = 51, kNone = 59, kDest = 60;
constexpr uint8_t kTcp = 6, kSctp = 132;
constexpr uint16_t kEthIp6 = 0x86dd;

bool ipv6_ext_hdr(uint8_t nh) {
  return nh == kHop || nh == kRouting || nh == kFragment || nh == kAuth || nh == kNone || nh == kDest;
}

// The kernel's "goto err": with F_PRESENT the register reads 0, otherwise the rule breaks.
bool absent(const ir::Field& f, uint8_t* out, std::string& why, std::string reason) {
  if (f.ext_present) {
    out[0] = 0;
    return true;
  }
  why = std::move(reason);
  return false;
}

bool load_ipv6(const Env& env, const ir::Field& f, uint8_t* out, std::string& why) {
  // nft_exthdr_ipv6_eval: a non-IPv6 skb breaks the rule even for "exists"/"missing".
  if (env.protocol != kEthIp6) {
    why = "not an IPv6 packet";
    return false;
  }
  uint32_t off = 0;
  int err = ipv6_find_target(env.skb, f.ext_type, off);
  if (f.ext_present) {
    out[0] = err >= 0 ? 1 : 0;
    return true;
  }
  if (err < 0) {
    why = fmt::format("no IPv6 header {} ({})", f.ext_type, err == -ENOENT ? "absent" : "walk failed");
    return false;
  }
  if (!env.skb.copy(static_cast<int64_t>(off) + f.offset, out, f.len)) {
    why = fmt::format("{} bytes at {} of IPv6 header {} beyond the packet", f.len, f.offset, f.ext_type);
    return false;
  }
  return true;
}

bool load_tcpopt(const Env& env, const ir::Field& f, uint8_t* out, std::string& why) {
  uint32_t hl = 0;
  auto opt = find_tcp_option(env, f.ext_type, hl);
  if (!opt) return absent(f, out, why, fmt::format("no TCP option {}", f.ext_type));
  // nft_exthdr_tcp_eval: the first option of the kind decides; it must fit the header and hold
  // offset + len bytes, else "goto err" (no later option of the same kind is looked at).
  uint32_t start = opt->offset - env.pkt.thoff;
  if (start + opt->len > hl || f.offset + f.len > opt->len)
    return absent(f, out, why, fmt::format("TCP option {} too short ({} bytes)", f.ext_type, opt->len));
  if (f.ext_present) {
    out[0] = 1;
    return true;
  }
  if (!env.skb.copy(static_cast<int64_t>(opt->offset) + f.offset, out, f.len)) {
    why = "TCP option beyond the packet";  // cannot happen: the whole header was read
    return false;
  }
  return true;
}

bool load_sctp(const Env& env, const ir::Field& f, uint8_t* out, std::string& why) {
  // Kernel 6.18 checks pkt->tprot only (later kernels also refuse non-first fragments, whose
  // bytes at thoff are then walked as chunks here): verified by the verdict differential.
  if (!env.pkt.l4 || env.pkt.tprot != kSctp) return absent(f, out, why, "not an SCTP packet");
  const int64_t skb_len = env.skb.len();
  int64_t off = static_cast<int64_t>(env.pkt.thoff) + 12;  // sizeof(struct sctphdr)
  do {
    uint8_t ch[4];
    if (!env.skb.copy(off, ch, 4)) break;
    uint32_t clen = static_cast<uint32_t>(ch[2] << 8 | ch[3]);
    if (clen == 0) break;
    if (ch[0] == f.ext_type) {
      if (f.ext_present) {
        out[0] = 1;
        return true;
      }
      if (f.offset + f.len > clen || off + clen > skb_len) break;
      if (!env.skb.copy(off + f.offset, out, f.len)) break;
      return true;
    }
    off += (clen + 3) & ~3u;  // SCTP_PAD4
  } while (off < skb_len);
  return absent(f, out, why, fmt::format("no SCTP chunk {}", f.ext_type));
}

}  // namespace

int ipv6_find_target(const Skb& skb, uint8_t target, uint32_t& offset) {
  uint8_t ip6[40];
  if (!skb.copy(skb.network_offset(), ip6, 40)) return -EBADMSG;
  int64_t start = skb.network_offset() + 40;
  uint8_t nexthdr = ip6[6];
  // ipv6_find_hdr with target >= 0 and no flags: walk until a header of the target type; AH is
  // walked through (ipv6_authlen), a non-first fragment ends the walk, and the header found must
  // have its first two bytes (four for routing and fragment headers) in the packet.
  for (;;) {
    bool found = nexthdr == target;
    if (!ipv6_ext_hdr(nexthdr) || nexthdr == kNone) {
      if (found) break;
      return -ENOENT;
    }
    uint8_t hp[2];
    if (!skb.copy(start, hp, 2)) return -EBADMSG;
    uint32_t hdrlen;
    if (nexthdr == kRouting) {
      uint8_t rh[4];
      if (!skb.copy(start, rh, 4)) return -EBADMSG;
    }
    if (nexthdr == kFragment) {
      uint8_t fo[2];
      if (!skb.copy(start + 2, fo, 2)) return -EBADMSG;
      uint16_t frag_off = static_cast<uint16_t>((fo[0] << 8 | fo[1]) & ~0x7);
      if (frag_off) {
        if (!found) return -ENOENT;
        break;
      }
      hdrlen = 8;
    } else if (nexthdr == kAuth) {
      hdrlen = (hp[1] + 2u) << 2;  // ipv6_authlen
    } else {
      hdrlen = (hp[1] + 1u) << 3;  // ipv6_optlen
    }
    if (found) break;
    nexthdr = hp[0];
    start += hdrlen;
  }
  if (start < 0) return -EBADMSG;
  offset = static_cast<uint32_t>(start);
  return nexthdr;
}

std::optional<TcpOption> find_tcp_option(const Env& env, uint8_t kind, uint32_t& hl) {
  // nft_tcp_header_pointer: TCP, not a non-first fragment, a data offset of 20..60 bytes that
  // the packet holds entirely.
  if (!env.pkt.l4 || env.pkt.tprot != kTcp || env.pkt.fragoff) return std::nullopt;
  uint8_t h[60];
  if (!env.skb.copy(env.pkt.thoff, h, 20)) return std::nullopt;
  hl = (h[12] >> 4) * 4u;
  if (hl < 20) return std::nullopt;
  if (!env.skb.copy(env.pkt.thoff, h, hl)) return std::nullopt;
  for (uint32_t i = 20; i < hl - 1;) {
    // optlen(): EOL and NOP are one byte; a zero length byte makes finite progress too.
    uint32_t optl = (h[i] <= 1 || h[i + 1] == 0) ? 1 : h[i + 1];
    if (h[i] == kind) return TcpOption{env.pkt.thoff + i, optl};
    i += optl;
  }
  return std::nullopt;
}

bool load_exthdr(const Env& env, const ir::Field& f, uint8_t* out, std::string& why, bool& unsupported) {
  switch (static_cast<ir::ExtHdrOp>(f.key)) {
    case ir::ExtHdrOp::kIpv6: return load_ipv6(env, f, out, why);
    case ir::ExtHdrOp::kTcpOpt: return load_tcpopt(env, f, out, why);
    case ir::ExtHdrOp::kSctp: return load_sctp(env, f, out, why);
    default:
      unsupported = true;
      why = fmt::format("exthdr {} not modelled", ir::to_string(static_cast<ir::ExtHdrOp>(f.key)));
      return false;
  }
}

}  // namespace nfbpf::eval
