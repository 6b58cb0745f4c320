#pragma once
// Checksums packets carry: the Internet checksum (RFC 1071) for IPv4, TCP, UDP, ICMP, ICMPv6, and
// CRC32c (RFC 3309 / RFC 4960 appendix B) for SCTP.

#include <cstdint>
#include <span>

namespace nfbpf::packet {

// One's-complement sum of 16-bit big-endian words, folded but not inverted. Chain partial sums
// (pseudo header, then segment) by passing the previous result as `initial`. An odd length is
// padded with a zero byte, so only the last span of a chain may have an odd length.
uint32_t inet_sum(std::span<const uint8_t> data, uint32_t initial = 0);

// ~fold(sum): the value written into a checksum field (network order as a host integer).
uint16_t inet_finish(uint32_t sum);

// CRC32c (Castagnoli), with the usual ~0 preset and final inversion.
uint32_t crc32c(std::span<const uint8_t> data);

}  // namespace nfbpf::packet
