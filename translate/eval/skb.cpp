#include "translate/eval/skb.h"

#include <cerrno>
#include <cstring>

namespace nfbpf::eval {

namespace {
constexpr uint8_t kHop = 0, kRouting = 43, kFragment = 44, kAuth = 51, kNone = 59, kDest = 60;

bool ipv6_ext_hdr(uint8_t nh) {
  return nh == kHop || nh == kRouting || nh == kFragment || nh == kAuth || nh == kNone || nh == kDest;
}
}  // namespace

bool Skb::copy(int64_t offset, uint8_t* out, uint32_t n) const {
  // skb_copy_bits refuses offset > skb->len - n; a negative offset reads headroom (the mac header).
  if (offset > static_cast<int64_t>(len()) - static_cast<int64_t>(n)) return false;
  int64_t abs = static_cast<int64_t>(data) + offset;
  if (abs < 0) return false;  // before the frame we were given: nothing real to read
  std::memcpy(out, buf.data() + abs, n);
  return true;
}

PktInfo pktinfo_ipv4(const Skb& skb) {
  uint8_t h[20];
  // At a netfilter hook the stack guarantees a full header; a shorter buffer can only come from a
  // test, and reading nothing is the honest model of "no transport header".
  if (!skb.copy(skb.network_offset(), h, 20)) return {};
  PktInfo p;
  p.l4 = true;
  p.tprot = h[9];
  p.thoff = static_cast<uint32_t>(skb.network_offset()) + (h[0] & 0xf) * 4u;  // ip_hdrlen()
  p.fragoff = static_cast<uint16_t>(((h[6] << 8 | h[7]) & 0x1fff) * 8);
  return p;
}

std::optional<PktInfo> pktinfo_ipv4_validate(const Skb& skb) {
  uint8_t h[20];
  if (!skb.copy(skb.network_offset(), h, 20)) return std::nullopt;
  uint8_t ihl = h[0] & 0xf;
  if (ihl < 5 || (h[0] >> 4) != 4) return std::nullopt;
  uint32_t len = static_cast<uint32_t>(h[2] << 8 | h[3]);  // iph_totlen (no GSO here)
  uint32_t thoff = ihl * 4u;
  uint32_t skb_len = skb.len() - static_cast<uint32_t>(skb.network_offset());
  if (skb_len < len || len < thoff || thoff < 20) return std::nullopt;
  PktInfo p;
  p.l4 = true;
  p.tprot = h[9];
  p.thoff = static_cast<uint32_t>(skb.network_offset()) + thoff;
  p.fragoff = static_cast<uint16_t>(((h[6] << 8 | h[7]) & 0x1fff) * 8);
  return p;
}

int ipv6_find_transport(const Skb& skb, uint32_t& offset, uint16_t& fragoff) {
  offset = 0;
  uint8_t ip6[40];
  if (!skb.copy(skb.network_offset(), ip6, 40)) return -EBADMSG;
  int64_t start = skb.network_offset() + 40;
  uint8_t nexthdr = ip6[6];
  fragoff = 0;
  // target < 0: walk to the first non-extension header (or AH, because of IP6_FH_F_AUTH).
  for (;;) {
    if (!ipv6_ext_hdr(nexthdr) || nexthdr == kNone) break;
    uint8_t hp[2];
    if (!skb.copy(start, hp, 2)) return -EBADMSG;
    uint32_t hdrlen;
    if (nexthdr == kFragment) {
      uint8_t fo[2];
      if (!skb.copy(start + 2, fo, 2)) return -EBADMSG;
      uint16_t frag_off = static_cast<uint16_t>((fo[0] << 8 | fo[1]) & ~0x7);
      if (frag_off) {
        // A non-first fragment: the transport header is not here. The kernel still reports the
        // protocol when the next header is not an extension header, with the fragment offset.
        if (!ipv6_ext_hdr(hp[0]) || hp[0] == kNone) {
          // *offset is left as the caller set it (0 in nft_set_pktinfo_ipv6): nft's payload fast
          // path then reads "transport" bytes from the IPv6 header.
          fragoff = frag_off;
          return hp[0];
        }
        return -ENOENT;
      }
      hdrlen = 8;
    } else if (nexthdr == kAuth) {
      break;  // IP6_FH_F_AUTH with target < 0: AH is the "transport" header
    } else {
      hdrlen = (hp[1] + 1u) << 3;  // ipv6_optlen
    }
    nexthdr = hp[0];
    start += hdrlen;
  }
  if (start < 0) return -EBADMSG;
  offset = static_cast<uint32_t>(start);
  return nexthdr;
}

XtInfo xt_walk_ipv6(const Skb& skb) {
  uint8_t ip6[40];
  if (!skb.copy(skb.network_offset(), ip6, 40)) return {};
  int64_t start = skb.network_offset() + 40;
  uint8_t nexthdr = ip6[6];
  for (;;) {
    if (!ipv6_ext_hdr(nexthdr) || nexthdr == kNone) break;
    uint8_t hp[2];
    if (!skb.copy(start, hp, 2)) return {};
    uint32_t hdrlen;
    if (nexthdr == kFragment) {
      uint8_t fo[2];
      if (!skb.copy(start + 2, fo, 2)) return {};
      uint16_t frag_off = static_cast<uint16_t>((fo[0] << 8 | fo[1]) & ~0x7);
      if (frag_off) {
        if (ipv6_ext_hdr(hp[0]) && hp[0] != kNone) return {};  // -ENOENT
        return XtInfo{.ok = true, .tprot = hp[0], .thoff = static_cast<uint32_t>(start + 8), .fragoff = frag_off};
      }
      hdrlen = 8;
    } else if (nexthdr == kAuth) {
      hdrlen = (hp[1] + 2u) << 2;  // ipv6_authlen
    } else {
      hdrlen = (hp[1] + 1u) << 3;  // ipv6_optlen
    }
    nexthdr = hp[0];
    start += hdrlen;
  }
  if (start < 0) return {};
  return XtInfo{.ok = true, .tprot = nexthdr, .thoff = static_cast<uint32_t>(start)};
}

PktInfo pktinfo_ipv6(const Skb& skb) {
  uint32_t thoff = 0;
  uint16_t frag = 0;
  int proto = ipv6_find_transport(skb, thoff, frag);
  if (proto < 0 || thoff > 0xffff) return {};
  return PktInfo{.l4 = true, .tprot = static_cast<uint8_t>(proto), .thoff = thoff, .fragoff = frag};
}

std::optional<PktInfo> pktinfo_ipv6_validate(const Skb& skb) {
  uint8_t ip6[40];
  if (!skb.copy(skb.network_offset(), ip6, 40)) return std::nullopt;
  if ((ip6[0] >> 4) != 6) return std::nullopt;
  uint32_t pkt_len = static_cast<uint32_t>(ip6[4] << 8 | ip6[5]);
  uint32_t skb_len = skb.len() - static_cast<uint32_t>(skb.network_offset());
  if (pkt_len + 40 > skb_len) return std::nullopt;
  uint32_t thoff = 0;
  uint16_t frag = 0;
  int proto = ipv6_find_transport(skb, thoff, frag);
  if (proto < 0 || thoff > 0xffff) return std::nullopt;
  return PktInfo{.l4 = true, .tprot = static_cast<uint8_t>(proto), .thoff = thoff, .fragoff = frag};
}

}  // namespace nfbpf::eval
