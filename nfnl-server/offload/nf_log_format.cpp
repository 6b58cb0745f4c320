#include "nfnl-server/offload/nf_log_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace nfbpf::offload {

namespace {

using codegen::abi::LogEvent;
namespace abi = codegen::abi;

// The captured bytes, read like skb_header_pointer: nothing when [off, off+len) is not all there.
struct Bytes {
  const uint8_t* p;
  uint32_t n;        // captured
  uint32_t skb_len;  // the packet's length from the network header (INCOMPLETE [n bytes])
  bool has(uint32_t off, uint32_t len) const { return off + len <= n && off + len >= off; }
  uint8_t u8(uint32_t off) const { return p[off]; }
  uint16_t be16(uint32_t off) const { return static_cast<uint16_t>(p[off] << 8 | p[off + 1]); }
  uint32_t be32(uint32_t off) const { return static_cast<uint32_t>(be16(off)) << 16 | be16(off + 2); }
};

struct Out {
  std::string s;
  template <typename... A>
  void add(fmt::format_string<A...> f, A&&... a) { fmt::format_to(std::back_inserter(s), f, std::forward<A>(a)...); }
};

std::string ip4(const Bytes& b, uint32_t off) {
  return fmt::format("{}.{}.{}.{}", b.u8(off), b.u8(off + 1), b.u8(off + 2), b.u8(off + 3));
}
std::string ip6(const Bytes& b, uint32_t off) {  // %pI6: eight 4-digit groups
  std::string r;
  for (int i = 0; i < 8; ++i) r += fmt::format("{}{:04x}", i ? ":" : "", b.be16(off + 2 * i));
  return r;
}
std::string mac(const uint8_t* m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

// nf_log_dump_tcp_header; true when the caller must stop (INCOMPLETE / OPT TRUNCATED).
bool tcp(Out& m, const Bytes& b, bool fragment, uint32_t off, uint16_t flags) {
  m.add("PROTO=TCP ");
  if (fragment) return false;
  if (!b.has(off, 20)) {
    m.add("INCOMPLETE [{} bytes] ", b.skb_len - off);
    return true;
  }
  m.add("SPT={} DPT={} ", b.be16(off), b.be16(off + 2));
  if (flags & abi::kLogTcpSeq) m.add("SEQ={} ACK={} ", b.be32(off + 4), b.be32(off + 8));
  m.add("WINDOW={} ", b.be16(off + 14));
  uint32_t word = b.be32(off + 12);  // doff(4) res(3) ae cwr ece urg ack psh rst syn fin
  m.add("RES=0x{:02x} ", static_cast<uint8_t>((word & 0x0e000000u) >> 22));  // TCP_RESERVED_BITS
  static const struct { uint32_t bit; const char* name; } kFlags[] = {
      {0x01000000u, "AE"}, {0x00800000u, "CWR"}, {0x00400000u, "ECE"}, {0x00200000u, "URG"}, {0x00100000u, "ACK"},
      {0x00080000u, "PSH"}, {0x00040000u, "RST"}, {0x00020000u, "SYN"}, {0x00010000u, "FIN"}};
  for (const auto& f : kFlags)
    if (word & f.bit) m.add("{} ", f.name);
  m.add("URGP={} ", b.be16(off + 18));
  uint32_t doff = (b.u8(off + 12) >> 4) * 4u;
  if ((flags & abi::kLogTcpOpt) && doff > 20) {
    if (!b.has(off + 20, doff - 20)) {
      m.add("OPT (TRUNCATED)");
      return true;
    }
    m.add("OPT (");
    for (uint32_t i = 20; i < doff; ++i) m.add("{:02X}", b.u8(off + i));
    m.add(") ");
  }
  return false;
}

bool udp(Out& m, const Bytes& b, uint8_t proto, bool fragment, uint32_t off) {
  m.s += proto == 17 ? "PROTO=UDP " : "PROTO=UDPLITE ";
  if (fragment) return false;
  if (!b.has(off, 8)) {
    m.add("INCOMPLETE [{} bytes] ", b.skb_len - off);
    return true;
  }
  m.add("SPT={} DPT={} LEN={} ", b.be16(off), b.be16(off + 2), b.be16(off + 4));
  return false;
}

void uid_mark(Out& m, const LogEvent& e) {
  if ((e.flags & abi::kLogUid) && e.have_uid) m.add("UID={} GID={} ", e.uid, e.gid);
  if (e.mark) m.add("MARK=0x{:x} ", e.mark);
}

void ipv4(Out& m, const LogEvent& e, const Bytes& b, uint32_t iphoff) {
  if (!b.has(iphoff, 20)) {
    m.add("TRUNCATED");
    return;
  }
  uint8_t tos = b.u8(iphoff + 1), ihl = b.u8(iphoff) & 0x0f, proto = b.u8(iphoff + 9);
  uint16_t frag = b.be16(iphoff + 6);
  m.add("SRC={} DST={} ", ip4(b, iphoff + 12), ip4(b, iphoff + 16));
  // iph_totlen: tot_len (0 only for BIG TCP GSO packets, which a hook never logs)
  m.add("LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ", b.be16(iphoff + 2), tos & 0x1e, tos & 0xe0, b.u8(iphoff + 8),
        b.be16(iphoff + 4));
  if (frag & 0x8000) m.add("CE ");
  if (frag & 0x4000) m.add("DF ");
  if (frag & 0x2000) m.add("MF ");
  if (frag & 0x1fff) m.add("FRAG:{} ", frag & 0x1fff);
  if ((e.flags & abi::kLogIpOpt) && ihl * 4u > 20) {
    if (!b.has(iphoff + 20, ihl * 4u - 20)) {
      m.add("TRUNCATED");
      return;
    }
    m.add("OPT (");
    for (uint32_t i = 20; i < ihl * 4u; ++i) m.add("{:02X}", b.u8(iphoff + i));
    m.add(") ");
  }
  uint32_t th = iphoff + ihl * 4u;
  bool fragment = (frag & 0x1fff) != 0;
  switch (proto) {
    case 6:
      if (tcp(m, b, fragment, th, e.flags)) return;
      break;
    case 17:
    case 136:
      if (udp(m, b, proto, fragment, th)) return;
      break;
    case 1: {
      static const uint32_t kRequired[19] = {4, 0, 0, 28, 28, 28, 0, 0, 4, 0, 0, 28, 28, 20, 20, 0, 0, 12, 12};
      m.add("PROTO=ICMP ");
      if (fragment) break;
      if (!b.has(th, 8)) {
        m.add("INCOMPLETE [{} bytes] ", b.skb_len - th);
        break;
      }
      uint8_t type = b.u8(th), code = b.u8(th + 1);
      m.add("TYPE={} CODE={} ", type, code);
      if (type <= 18 && kRequired[type] && b.skb_len - th < kRequired[type]) {
        m.add("INCOMPLETE [{} bytes] ", b.skb_len - th);
        break;
      }
      switch (type) {
        case 0:
        case 8: m.add("ID={} SEQ={} ", b.be16(th + 4), b.be16(th + 6)); break;
        case 12: m.add("PARAMETER={} ", b.be32(th + 4) >> 24); break;
        case 5: m.add("GATEWAY={} ", ip4(b, th + 4)); [[fallthrough]];
        case 3:
        case 4:
        case 11:
          if (iphoff == 0) {
            m.add("[");
            ipv4(m, e, b, th + 8);
            m.add("] ");
          }
          if (type == 3 && code == 4) m.add("MTU={} ", b.be16(th + 6));
          break;
        default: break;
      }
      break;
    }
    case 51:
      if (fragment) break;
      m.add("PROTO=AH ");
      if (!b.has(th, 12)) {
        m.add("INCOMPLETE [{} bytes] ", b.skb_len - th);
        break;
      }
      m.add("SPI=0x{:x} ", b.be32(th + 4));
      break;
    case 50:
      m.add("PROTO=ESP ");
      if (fragment) break;
      if (!b.has(th, 8)) {
        m.add("INCOMPLETE [{} bytes] ", b.skb_len - th);
        break;
      }
      m.add("SPI=0x{:x} ", b.be32(th));
      break;
    default: m.add("PROTO={} ", proto);
  }
  if (iphoff == 0) uid_mark(m, e);
}

bool ip6_ext(uint8_t h) { return h == 0 || h == 43 || h == 44 || h == 50 || h == 51 || h == 60; }  // nf_ip6_ext_hdr

void ipv6(Out& m, const LogEvent& e, const Bytes& b, uint32_t off, bool recurse) {
  if (!b.has(off, 40)) {
    m.add("TRUNCATED");
    return;
  }
  uint32_t w0 = b.be32(off);
  m.add("SRC={} DST={} ", ip6(b, off + 8), ip6(b, off + 24));
  m.add("LEN={} TC={} HOPLIMIT={} FLOWLBL={} ", b.be16(off + 4) + 40u, (w0 & 0x0ff00000u) >> 20, b.u8(off + 7), w0 & 0x000fffffu);
  bool fragment = false, ipopt = e.flags & abi::kLogIpOpt;
  uint32_t ptr = off + 40;
  uint8_t cur = b.u8(off + 6);
  while (cur != 59 && ip6_ext(cur)) {
    if (!b.has(ptr, 2)) {
      m.add("TRUNCATED");
      return;
    }
    if (ipopt) m.add("OPT ( ");
    uint32_t hdrlen = 0;
    switch (cur) {
      case 44: {
        m.add("FRAG:");
        if (!b.has(ptr, 8)) {
          m.add("TRUNCATED ");
          return;
        }
        uint16_t fo = b.be16(ptr + 2);
        m.add("{} ", fo & 0xfff8);
        if (fo & 1) m.add("INCOMPLETE ");
        m.add("ID:{:08x} ", b.be32(ptr + 4));
        if (fo & 0xfff8) fragment = true;
        hdrlen = 8;
        break;
      }
      case 60:
      case 43:
      case 0:
        if (fragment) {
          if (ipopt) m.add(")");
          return;
        }
        hdrlen = (b.u8(ptr + 1) + 1u) * 8;
        break;
      case 51:
        if (ipopt) {
          m.add("AH ");
          if (fragment) {
            m.add(")");
            return;
          }
          if (!b.has(ptr, 12)) {
            m.add("INCOMPLETE [{} bytes] )", b.skb_len - ptr);
            return;
          }
          m.add("SPI=0x{:x} ", b.be32(ptr + 4));
        }
        hdrlen = (b.u8(ptr + 1) + 2u) * 4;
        break;
      case 50:
        if (ipopt) {
          m.add("ESP ");
          if (fragment) {
            m.add(")");
            return;
          }
          if (!b.has(ptr, 8)) {
            m.add("INCOMPLETE [{} bytes] )", b.skb_len - ptr);
            return;
          }
          m.add("SPI=0x{:x} )", b.be32(ptr));
        }
        return;
      default:
        m.add("Unknown Ext Hdr {}", cur);
        return;
    }
    if (ipopt) m.add(") ");
    cur = b.u8(ptr);
    ptr += hdrlen;
  }
  switch (cur) {
    case 6:
      if (tcp(m, b, fragment, ptr, e.flags)) return;
      break;
    case 17:
    case 136:
      if (udp(m, b, cur, fragment, ptr)) return;
      break;
    case 58: {
      m.add("PROTO=ICMPv6 ");
      if (fragment) break;
      if (!b.has(ptr, 8)) {
        m.add("INCOMPLETE [{} bytes] ", b.skb_len - ptr);
        return;
      }
      uint8_t type = b.u8(ptr);
      m.add("TYPE={} CODE={} ", type, b.u8(ptr + 1));
      switch (type) {
        case 128:
        case 129: m.add("ID={} SEQ={} ", b.be16(ptr + 4), b.be16(ptr + 6)); break;
        case 130:
        case 131:
        case 132: break;
        case 4: m.add("POINTER={:08x} ", b.be32(ptr + 4)); [[fallthrough]];
        case 1:
        case 2:
        case 3:
          if (recurse) {
            m.add("[");
            ipv6(m, e, b, ptr + 8, false);
            m.add("] ");
          }
          if (type == 2) m.add("MTU={} ", b.be32(ptr + 4));
          break;
        default: break;
      }
      break;
    }
    default: m.add("PROTO={} ", cur);
  }
  if (recurse) uid_mark(m, e);
}

std::string name(const char (&n)[16]) { return std::string(n, strnlen(n, 16)); }

}  // namespace

std::string format_nf_log(const LogEvent& e) {
  Out m;
  std::string prefix(e.prefix, std::min<uint32_t>(e.prefix_len, abi::kLogPrefixMax));
  m.add("{}IN={} OUT={} ", prefix, e.have_in ? name(e.in_name) : "", e.have_out ? name(e.out_name) : "");
  Bytes b{e.data, std::min<uint32_t>(e.data_len, abi::kLogDataMax), e.skb_len};
  uint8_t pf = e.pf;
  if (pf == 0 && b.n > 0) pf = (b.u8(0) >> 4) == 6 ? 10 : (b.u8(0) >> 4) == 4 ? 2 : 0;
  if (e.have_in) {  // dump_mac_header
    constexpr uint16_t kArphrdEther = 1;
    if ((e.flags & abi::kLogMacDecode) && e.in_type == kArphrdEther) {
      if (e.mac_hdr_len != 0xffff && e.mac_hdr_len >= 14 && e.mac_len >= 14)
        m.add("MACSRC={} MACDST={} MACPROTO={:04x} ", mac(e.mac + 6), mac(e.mac), e.mac[12] << 8 | e.mac[13]);
    } else {
      m.add("MAC=");
      for (uint32_t i = 0; i < std::min<uint32_t>(e.mac_len, abi::kLogMacMax); ++i) m.add("{}{:02x}", i ? ":" : "", e.mac[i]);
      m.add(" ");
    }
  }
  if (pf == 2) ipv4(m, e, b, 0);
  else if (pf == 10) ipv6(m, e, b, 0, true);
  return m.s;
}

}  // namespace nfbpf::offload
