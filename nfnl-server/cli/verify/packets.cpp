#include "nfnl-server/cli/verify/packets.h"

#include <arpa/inet.h>

#include <cstring>

#include "nfnl-server/cli/verify/nft_ruleset.h"
#include "nfnl-server/cli/verify/scratch_net.h"

namespace nfbpf::verify {

namespace {

using Bytes = std::vector<uint8_t>;

uint16_t csum(const uint8_t* d, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (d[i] << 8) | d[i + 1];
  if (n % 2) s += d[n - 1] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

Bytes ip_frame(bool v6, uint8_t proto, const Bytes& l4, const char* src, const char* dst) {
  Bytes f(kRecvMac, kRecvMac + 6);
  f.insert(f.end(), kSenderMac, kSenderMac + 6);
  if (!v6) {
    put16(f, 0x0800);
    Bytes h = {0x45, 0};
    put16(h, static_cast<uint16_t>(20 + l4.size()));
    h.insert(h.end(), {0, 0, 0, 0, 64, proto, 0, 0});
    uint8_t a[4];
    inet_pton(AF_INET, src, a);
    h.insert(h.end(), a, a + 4);
    inet_pton(AF_INET, dst, a);
    h.insert(h.end(), a, a + 4);
    const uint16_t c = csum(h.data(), h.size());
    h[10] = static_cast<uint8_t>(c >> 8);
    h[11] = static_cast<uint8_t>(c);
    f.insert(f.end(), h.begin(), h.end());
  } else {
    put16(f, 0x86dd);
    f.insert(f.end(), {0x60, 0, 0, 0});
    put16(f, static_cast<uint16_t>(l4.size()));
    f.push_back(proto);
    f.push_back(64);
    uint8_t a[16];
    inet_pton(AF_INET6, src, a);
    f.insert(f.end(), a, a + 16);
    inet_pton(AF_INET6, dst, a);
    f.insert(f.end(), a, a + 16);
  }
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

Bytes udp(uint16_t sport, uint16_t dport, size_t payload) {
  Bytes u;
  put16(u, sport);
  put16(u, dport);
  put16(u, static_cast<uint16_t>(8 + payload));
  put16(u, 0);
  u.resize(8 + payload, 'x');
  return u;
}

}  // namespace

std::vector<Packet> generic_packets(bool realistic) {
  Bytes tcp;
  put16(tcp, 40000);
  put16(tcp, 80);
  tcp.insert(tcp.end(), {0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0});
  const Bytes icmp = {8, 0, 0, 0, 0, 1, 0, 1}, icmp6 = {0x80, 0, 0, 0, 0, 1, 0, 1};
  const char *s4 = "192.0.2.1", *d4 = "198.51.100.2", *s6 = "2001:db8::1", *d6 = "2001:db8::2";
  std::vector<Packet> out;
  auto add = [&](Bytes f) {
    if (realistic) make_realistic(f);
    out.push_back({std::move(f), "generic #" + std::to_string(out.size()), std::nullopt});
  };
  add(ip_frame(false, 6, tcp, s4, d4));
  add(ip_frame(false, 17, udp(40000, 53, 0), s4, d4));
  add(ip_frame(false, 1, icmp, s4, d4));
  add(ip_frame(true, 6, tcp, s6, d6));
  add(ip_frame(true, 17, udp(40000, 53, 0), s6, d6));
  add(ip_frame(true, 58, icmp6, s6, d6));
  // A train of larger datagrams runs token buckets and quotas past their limits.
  for (int i = 0; i < 16; ++i) {
    add(ip_frame(false, 17, udp(40000, 53, 200), s4, d4));
    add(ip_frame(true, 17, udp(40000, 53, 200), s6, d6));
  }
  return out;
}

void make_realistic(std::vector<uint8_t>& f) {
  if (f.size() < 14 + 20) return;
  uint8_t* ip = f.data() + 14;
  const size_t n = f.size() - 14;
  size_t l4 = 0, l4_len = 0;
  uint8_t proto = 0;
  Bytes pseudo;
  if ((ip[0] >> 4) == 4) {
    l4 = (ip[0] & 0xf) * 4u;
    const size_t total = (ip[2] << 8) | ip[3];
    if (((ip[6] & 0x3f) << 8 | ip[7]) != 0 || total > n || total < l4) return;  // fragment, or cut
    proto = ip[9];
    l4_len = total - l4;
    pseudo.assign(ip + 12, ip + 20);
    pseudo.insert(pseudo.end(), {0, proto});
    put16(pseudo, static_cast<uint16_t>(l4_len));
  } else if ((ip[0] >> 4) == 6 && n >= 40) {
    l4 = 40;
    l4_len = (ip[4] << 8) | ip[5];
    proto = ip[6];
    if (l4 + l4_len > n) return;
    pseudo.assign(ip + 8, ip + 40);
    pseudo.insert(pseudo.end(), {0, 0});
    put16(pseudo, static_cast<uint16_t>(l4_len));
    pseudo.insert(pseudo.end(), {0, 0, 0, proto});
  } else {
    return;
  }
  uint8_t* h = ip + l4;
  size_t sum_at = 0;
  bool with_pseudo = true;
  switch (proto) {
    case 6:
      if (l4_len < 20) return;
      if ((h[13] & 0x3f) == 0 && (h[12] >> 4) >= 5) h[13] |= 0x02;  // no flag at all: a SYN
      sum_at = 16;
      break;
    case 17:
      if (l4_len < 8) return;
      sum_at = 6;
      break;
    case 1:
      if (l4_len < 8 || (ip[0] >> 4) != 4) return;
      sum_at = 2;
      with_pseudo = false;
      break;
    case 58:
      if (l4_len < 8) return;
      sum_at = 2;
      break;
    default:
      return;
  }
  h[sum_at] = h[sum_at + 1] = 0;
  Bytes all = with_pseudo ? pseudo : Bytes{};
  all.insert(all.end(), h, h + l4_len);
  uint16_t c = csum(all.data(), all.size());
  if (proto == 17 && c == 0) c = 0xffff;
  h[sum_at] = static_cast<uint8_t>(c >> 8);
  h[sum_at + 1] = static_cast<uint8_t>(c);
}

std::vector<uint8_t> sentinel_frame() { return ip_frame(false, 17, udp(9, 9, 0), kSentinelSrc, kSentinelDst); }

std::vector<uint8_t> sentinel_frame_v6() {
  return ip_frame(true, 17, udp(9, 9, 0), "2001:db8:ffff::222", "2001:db8:ffff::223");
}

}  // namespace nfbpf::verify
