// One-line packet descriptions for test failure messages. Tolerant by design: it names what is
// there and what is wrong ("ihl=4!", "truncated") instead of refusing.

#include <arpa/inet.h>

#include <fmt/format.h>

#include "common/packet/packet.h"

namespace nfbpf::packet {

namespace {

uint16_t rd16(std::span<const uint8_t> b, size_t off) { return static_cast<uint16_t>(b[off] << 8 | b[off + 1]); }
uint32_t rd32(std::span<const uint8_t> b, size_t off) {
  return static_cast<uint32_t>(b[off]) << 24 | static_cast<uint32_t>(b[off + 1]) << 16 |
         static_cast<uint32_t>(b[off + 2]) << 8 | b[off + 3];
}

std::string addr(int af, const uint8_t* p) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(af, p, buf, sizeof(buf));
  return buf;
}

std::string tcp_flag_letters(uint8_t f) {
  static constexpr char kLetters[] = "FSRPAUEC";
  std::string s;
  for (int i = 0; i < 8; ++i)
    if (f & (1 << i)) s.push_back(kLetters[i]);
  return s.empty() ? "none" : s;
}

// L4 description; `l4` is what is present from the transport header on.
std::string describe_l4(uint8_t proto, std::span<const uint8_t> l4, bool first_fragment) {
  if (!first_fragment) return fmt::format("proto {} (non-first fragment)", proto);
  auto need = [&](size_t n, std::string_view name) -> std::optional<std::string> {
    if (l4.size() < n) return fmt::format("{} truncated({}B)", name, l4.size());
    return std::nullopt;
  };
  switch (proto) {
    case proto::kTcp: {
      if (auto t = need(20, "tcp")) return *t;
      std::string s = fmt::format("tcp {}>{} {}", rd16(l4, 0), rd16(l4, 2), tcp_flag_letters(l4[13]));
      uint8_t doff = l4[12] >> 4;
      if (doff < 5) s += fmt::format(" doff={}!", doff);
      else if (doff > 5) s += fmt::format(" opts={}B", (doff - 5) * 4);
      return s;
    }
    case proto::kUdp:
    case proto::kUdpLite: {
      std::string_view name = proto == proto::kUdp ? "udp" : "udplite";
      if (auto t = need(8, name)) return *t;
      return fmt::format("{} {}>{}", name, rd16(l4, 0), rd16(l4, 2));
    }
    case proto::kSctp: {
      if (auto t = need(12, "sctp")) return *t;
      std::string s = fmt::format("sctp {}>{} vtag {:#x}", rd16(l4, 0), rd16(l4, 2), rd32(l4, 4));
      if (l4.size() >= 13) s += fmt::format(" chunk {}", l4[12]);
      return s;
    }
    case proto::kIcmp:
    case proto::kIcmp6: {
      std::string_view name = proto == proto::kIcmp ? "icmp" : "icmpv6";
      if (auto t = need(4, name)) return *t;
      return fmt::format("{} {}/{}", name, l4[0], l4[1]);
    }
    default:
      return fmt::format("proto {}", proto);
  }
}

std::string describe_ipv4(std::span<const uint8_t> b) {
  if (b.size() < 20) return fmt::format("ipv4 truncated({}B)", b.size());
  std::string s = fmt::format("ipv4 {}>{}", addr(AF_INET, &b[12]), addr(AF_INET, &b[16]));
  uint8_t ihl = b[0] & 0xf;
  uint16_t tot = rd16(b, 2);
  uint16_t frag = rd16(b, 6);
  if (ihl < 5) s += fmt::format(" ihl={}!", ihl);
  else if (ihl > 5) s += fmt::format(" opts={}B", (ihl - 5) * 4);
  if (tot != b.size()) s += fmt::format(" totlen={}{}", tot, tot > b.size() ? "!" : "");
  uint16_t off = static_cast<uint16_t>((frag & 0x1fff) * 8);
  if (off || (frag & 0x2000)) s += fmt::format(" frag(off={}{})", off, (frag & 0x2000) ? ",MF" : "");
  size_t hlen = static_cast<size_t>(ihl < 5 ? 5 : ihl) * 4;
  std::span<const uint8_t> l4 = hlen <= b.size() ? b.subspan(hlen) : std::span<const uint8_t>{};
  s += " " + describe_l4(b[9], l4, off == 0);
  return s;
}

bool ipv6_ext(uint8_t nh) {
  return nh == proto::kHopByHop || nh == proto::kRouting || nh == proto::kFragment || nh == proto::kAh ||
         nh == proto::kDstOpts;
}

std::string describe_ipv6(std::span<const uint8_t> b) {
  if (b.size() < 40) return fmt::format("ipv6 truncated({}B)", b.size());
  std::string s = fmt::format("ipv6 {}>{}", addr(AF_INET6, &b[8]), addr(AF_INET6, &b[24]));
  uint16_t plen = rd16(b, 4);
  if (plen + 40u != b.size()) s += fmt::format(" plen={}{}", plen, plen + 40u > b.size() ? "!" : "");
  uint8_t nh = b[6];
  size_t off = 40;
  bool first = true;
  for (int guard = 0; ipv6_ext(nh) && guard < 16; ++guard) {
    if (off + 2 > b.size()) return s + " ext truncated";
    uint8_t next = b[off];
    size_t len;
    switch (nh) {
      case proto::kHopByHop: s += " hbh"; len = (b[off + 1] + 1u) * 8; break;
      case proto::kDstOpts: s += " dst"; len = (b[off + 1] + 1u) * 8; break;
      case proto::kRouting:
        s += off + 4 <= b.size() ? fmt::format(" rt(type={},left={})", b[off + 2], b[off + 3]) : " rt";
        len = (b[off + 1] + 1u) * 8;
        break;
      case proto::kAh: s += " ah"; len = (b[off + 1] + 2u) * 4; break;
      default: {  // fragment
        if (off + 8 > b.size()) return s + " frag truncated";
        uint16_t fo = rd16(b, off + 2);
        uint16_t foff = static_cast<uint16_t>(fo & 0xfff8);
        s += fmt::format(" frag(off={}{})", foff, (fo & 1) ? ",MF" : "");
        len = 8;
        if (foff) first = false;
      }
    }
    nh = next;
    off += len;
  }
  std::span<const uint8_t> l4 = off <= b.size() ? b.subspan(off) : std::span<const uint8_t>{};
  if (nh == proto::kNone) s += " nonext";
  else s += " " + describe_l4(nh, l4, first);
  return s;
}

}  // namespace

std::string describe_l3(std::span<const uint8_t> b) {
  if (b.empty()) return "empty";
  std::string s;
  switch (b[0] >> 4) {
    case 4: s = describe_ipv4(b); break;
    case 6: s = describe_ipv6(b); break;
    default: return fmt::format("l3 version={}! len {}", b[0] >> 4, b.size());
  }
  return s + fmt::format(" len {}", b.size());
}

std::string describe_frame(std::span<const uint8_t> f) {
  if (f.size() < 14) return fmt::format("eth truncated({}B)", f.size());
  std::string s = fmt::format("eth {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}>{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                              f[6], f[7], f[8], f[9], f[10], f[11], f[0], f[1], f[2], f[3], f[4], f[5]);
  uint16_t type = rd16(f, 12);
  if (type == ethertype::kIp || type == ethertype::kIp6) return s + " " + describe_l3(f.subspan(14));
  return s + fmt::format(" type {:#06x} len {}", type, f.size() - 14);
}

std::string describe(const Packet& p) {
  Bytes b = p.bytes();
  return p.l2_len() ? describe_frame(b) : describe_l3(b);
}

}  // namespace nfbpf::packet
