#pragma once
// Packet crafting for tests: IPv4/IPv6 (options, extension headers, fragments), TCP, UDP, SCTP,
// ICMP, ICMPv6, raw L4, optional Ethernet framing; correct lengths and checksums by default and
// deliberate damage on request.
//
//   auto p = Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 22).flags(tcp::kSyn).bytes();
//   auto q = Packet::ipv6("2001:db8::1", "2001:db8::2").hop_by_hop().fragment(8, true)
//                .udp(53, 53).payload_size(16).ether().bytes();
//   auto bad = Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).ihl(4).truncate(25).bytes();
//
// Why our own builder and not libtins (Debian's libtins-dev): libtins recomputes IHL, total
// length and checksums whenever it serialises, so the malformed packets these tests need (wrong
// IHL, bad total length, truncation at any byte, a fragment header in front of an absent L4) take
// post-serialisation byte surgery anyway; it has no SCTP; and it would be one more dependency for
// ~400 lines of straightforward header writing. Here every header is written from its RFC
// layout, lengths and checksums are filled in last, and each override is applied on top.
//
// Semantics of the builder:
// - Headers are emitted in call order within their layer: IPv6 extension headers chain in the
//   order they were added; their next-header bytes are filled in automatically (the last one
//   names the L4 protocol, or 59 "no next header" when there is none).
// - Lengths (IPv4 total length, IPv6 payload length, UDP length, TCP data offset) and checksums
//   (IPv4 header, TCP/UDP/ICMPv6 with pseudo header, ICMP, SCTP CRC32c) are computed from the
//   bytes actually built, then overrides (`ihl`, `total_length`, `l4_checksum`, ...) replace the
//   named field only; the IPv4 header checksum is computed after header overrides, so only the
//   field you damaged is wrong. `truncate` cuts last, after all checksums.
// - Fragments: `fragment(offset, more)` sets IPv4 frag_off or adds an IPv6 fragment header; the
//   L4 bytes are still whatever you built (a non-first fragment with "TCP" bytes in it is exactly
//   what shows that nft refuses transport reads on non-first fragments).
// - The IPv6 pseudo header uses the IPv6 header's destination even when a routing header is
//   present (RFC 8200 says the final destination; no test here depends on it).
// - Invalid address literals are programming errors in a test: they abort with a message.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nfbpf::packet {

using Bytes = std::vector<uint8_t>;

namespace tcp {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20,
                         kEce = 0x40, kCwr = 0x80;
}

namespace proto {  // IP protocol / IPv6 next-header numbers
inline constexpr uint8_t kHopByHop = 0, kIcmp = 1, kTcp = 6, kUdp = 17, kRouting = 43, kFragment = 44,
                         kEsp = 50, kAh = 51, kIcmp6 = 58, kNone = 59, kDstOpts = 60, kSctp = 132,
                         kUdpLite = 136;
}

namespace ethertype {
inline constexpr uint16_t kIp = 0x0800, kIp6 = 0x86dd, kArp = 0x0806, kVlan = 0x8100;
}

class Packet {
 public:
  static Packet ipv4(std::string_view src, std::string_view dst);
  static Packet ipv6(std::string_view src, std::string_view dst);

  // ---- L2 ----
  // Wrap the L3 packet in an Ethernet II header; the ethertype follows the L3 version.
  Packet& ether(std::string_view src_mac = "02:00:00:00:00:01", std::string_view dst_mac = "02:00:00:00:00:02");
  Packet& ethertype(uint16_t type);  // override (implies ether())

  // ---- IPv4 header ----
  Packet& tos(uint8_t v);
  Packet& ttl(uint8_t v);            // also the IPv6 hop limit
  Packet& id(uint16_t v);            // also the IPv6 fragment header's identification
  Packet& dont_fragment(bool df = true);
  Packet& ip_options(Bytes raw);     // padded with EOL (0) to a multiple of 4
  // IPv4: frag_off = offset/8 | MF. IPv6: adds a fragment extension header here in the chain.
  // `offset_bytes` must be a multiple of 8.
  Packet& fragment(uint16_t offset_bytes, bool more_fragments);

  // ---- IPv6 header and extension headers ----
  Packet& traffic_class(uint8_t v);
  Packet& flow_label(uint32_t v);
  Packet& hop_limit(uint8_t v) { return ttl(v); }
  Packet& hop_by_hop(Bytes options = {});  // options padded with Pad1/PadN to a multiple of 8
  Packet& dest_opts(Bytes options = {});
  Packet& routing(uint8_t type, uint8_t segments_left, Bytes data = {});  // data padded to 8n+4
  // Any extension header, raw: `body` is everything after the next-header byte (the caller gets
  // the length byte and the size right, or deliberately wrong).
  Packet& ext_header(uint8_t type, Bytes body);

  // ---- L4 ----
  Packet& tcp(uint16_t sport, uint16_t dport);  // flags 0, seq 0, ack 0, window 64240
  Packet& flags(uint8_t tcp_flags);
  Packet& seq(uint32_t v);
  Packet& ack_seq(uint32_t v);
  Packet& window(uint16_t v);
  Packet& urgent(uint16_t v);
  Packet& tcp_options(Bytes raw);  // padded with EOL (0) to a multiple of 4
  Packet& udp(uint16_t sport, uint16_t dport);
  Packet& udplite(uint16_t sport, uint16_t dport);  // checksum coverage = whole datagram
  Packet& sctp(uint16_t sport, uint16_t dport, uint32_t vtag = 0);
  Packet& sctp_chunk(uint8_t type, uint8_t flags, Bytes value = {});  // padded to 4
  Packet& icmp(uint8_t type, uint8_t code, uint32_t rest = 0);        // rest: bytes 4..7
  Packet& icmp_echo(uint16_t id, uint16_t sequence);                  // type 8 code 0
  Packet& icmp6(uint8_t type, uint8_t code, uint32_t rest = 0);
  Packet& icmp6_echo(uint16_t id, uint16_t sequence);                 // type 128 code 0
  // An L4 this builder does not know (or deliberate junk): protocol number and header bytes.
  Packet& l4(uint8_t protocol, Bytes header);
  Packet& payload(Bytes data);
  Packet& payload_size(size_t n, uint8_t fill = 0xab);

  // ---- Deliberate damage (applied on top of the computed values) ----
  Packet& ip_version(uint8_t v);
  Packet& ihl(uint8_t words);
  Packet& total_length(uint16_t v);    // IPv4 total length
  Packet& payload_length(uint16_t v);  // IPv6 payload length
  Packet& ip_protocol(uint8_t p);      // IPv4 protocol / IPv6 last next-header (L4 bytes kept)
  Packet& ip_checksum(uint16_t v);
  Packet& l4_checksum(uint16_t v);     // TCP/UDP/ICMP/ICMPv6 checksum field; SCTP's CRC field
  Packet& udp_length(uint16_t v);
  Packet& tcp_doff(uint8_t words);
  Packet& truncate(size_t l3_bytes);   // keep the first n bytes of the L3 packet
  Packet& truncate_l4(size_t l4_bytes);  // keep n bytes from the L4 header on
  Packet& trailer(Bytes junk);         // bytes after the L3 packet (not counted in its lengths)

  // ---- Output ----
  Bytes bytes() const;   // the frame: Ethernet header (if ether()) + L3
  Bytes l3() const;      // the L3 packet only (what netfilter hooks see)
  size_t l2_len() const { return eth_ ? 14 : 0; }
  size_t l4_offset() const;  // from the L3 start: IPv4 header + options, or IPv6 + ext headers
  bool is_ipv6() const { return v6_; }
  uint8_t l4_protocol() const { return l4_proto_; }

 private:
  enum class L4Kind : uint8_t { kNone, kTcp, kUdp, kUdpLite, kSctp, kIcmp, kIcmp6, kRaw };
  struct Ext {
    uint8_t type;
    Bytes body;  // after the next-header byte
  };
  struct Eth {
    uint8_t src[6], dst[6];
    std::optional<uint16_t> type;
  };

  Packet() = default;
  Bytes build_l4() const;
  Bytes build_l3() const;
  void apply_l4_checksum(Bytes& l4, uint16_t l4_len_for_pseudo) const;

  bool v6_ = false;
  uint8_t src_[16] = {}, dst_[16] = {};
  uint8_t tos_ = 0, ttl_ = 64;
  uint16_t id_ = 0;
  bool df_ = false;
  uint16_t frag_off_ = 0;  // IPv4: offset in 8-byte units | MF (0x2000)
  Bytes ip_options_;
  uint32_t flow_label_ = 0;
  std::vector<Ext> ext_;
  std::optional<Eth> eth_;

  L4Kind l4_ = L4Kind::kNone;
  uint8_t l4_proto_ = proto::kNone;
  uint16_t sport_ = 0, dport_ = 0;
  uint8_t tcp_flags_ = 0;
  uint32_t seq_ = 0, ack_ = 0;
  uint16_t window_ = 64240, urgent_ = 0;
  Bytes tcp_options_;
  uint32_t vtag_ = 0;
  Bytes sctp_chunks_;
  uint8_t icmp_type_ = 0, icmp_code_ = 0;
  uint32_t icmp_rest_ = 0;
  Bytes raw_l4_;
  Bytes payload_;

  std::optional<uint8_t> ov_version_, ov_ihl_, ov_protocol_, ov_doff_;
  std::optional<uint16_t> ov_total_len_, ov_payload_len_, ov_ip_csum_, ov_l4_csum_, ov_udp_len_;
  std::optional<size_t> truncate_l3_, truncate_l4_;
  Bytes trailer_;
};

// Text forms, for test failure messages.
// "ipv4 10.0.0.1>10.0.0.2 tcp 1234>22 S len 40"
// "eth 02:00:00:00:00:01>02:00:00:00:00:02 ipv6 2001:db8::1>2001:db8::2 hbh frag(off=8,MF) udp 53>53 len 72"
// Damage is named: "ihl=4!", "totlen=300!", "truncated", "proto 253".
std::string describe_l3(std::span<const uint8_t> l3);
std::string describe_frame(std::span<const uint8_t> frame);  // Ethernet II, then L3
std::string describe(const Packet& p);

std::string hex(std::span<const uint8_t> data);  // "4500003c..." (lowercase, no spaces)

}  // namespace nfbpf::packet
