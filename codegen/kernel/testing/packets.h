#pragma once
// Hand-built test packets (header only; no dependencies): IPv4/UDP with correct checksums and an
// Ethernet wrapper for the flavors and netfilter hooks that want L2.

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace nfbpf::codegen::testing {

inline uint16_t ip_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// IPv4 + UDP, addresses as dotted strings, `payload` bytes of 'x'.
inline std::vector<uint8_t> ipv4_udp(const char* saddr, const char* daddr, size_t payload = 16,
                                     uint16_t sport = 1000, uint16_t dport = 2000) {
  std::vector<uint8_t> p(20 + 8 + payload, 'x');
  uint16_t total = static_cast<uint16_t>(p.size());
  p[0] = 0x45;
  p[1] = 0;
  p[2] = total >> 8;
  p[3] = total & 0xff;
  p[4] = p[5] = 0;
  p[6] = 0x40;  // DF
  p[7] = 0;
  p[8] = 64;
  p[9] = 17;
  p[10] = p[11] = 0;
  inet_pton(AF_INET, saddr, &p[12]);
  inet_pton(AF_INET, daddr, &p[16]);
  uint16_t c = ip_checksum(p.data(), 20);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  uint16_t ulen = static_cast<uint16_t>(8 + payload);
  p[20] = sport >> 8;
  p[21] = sport & 0xff;
  p[22] = dport >> 8;
  p[23] = dport & 0xff;
  p[24] = ulen >> 8;
  p[25] = ulen & 0xff;
  p[26] = p[27] = 0;  // no UDP checksum
  return p;
}

// IPv6 + UDP (no extension headers), `payload` bytes of 'x'; UDP checksum left 0 (programs
// under test do not check it).
inline std::vector<uint8_t> ipv6_udp(const char* saddr, const char* daddr, size_t payload = 16,
                                     uint16_t sport = 1000, uint16_t dport = 2000) {
  std::vector<uint8_t> p(40 + 8 + payload, 'x');
  uint16_t plen = static_cast<uint16_t>(8 + payload);
  p[0] = 0x60;
  p[1] = p[2] = p[3] = 0;
  p[4] = plen >> 8;
  p[5] = plen & 0xff;
  p[6] = 17;
  p[7] = 64;
  inet_pton(AF_INET6, saddr, &p[8]);
  inet_pton(AF_INET6, daddr, &p[24]);
  p[40] = sport >> 8;
  p[41] = sport & 0xff;
  p[42] = dport >> 8;
  p[43] = dport & 0xff;
  p[44] = plen >> 8;
  p[45] = plen & 0xff;
  p[46] = p[47] = 0;
  return p;
}

// Prepends an Ethernet header (02:..:02 <- 02:..:01) with the given ethertype.
inline std::vector<uint8_t> ethernet(const std::vector<uint8_t>& l3, uint16_t ethertype = 0x0800) {
  std::vector<uint8_t> f = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1,
                            static_cast<uint8_t>(ethertype >> 8), static_cast<uint8_t>(ethertype & 0xff)};
  f.insert(f.end(), l3.begin(), l3.end());
  return f;
}

}  // namespace nfbpf::codegen::testing
