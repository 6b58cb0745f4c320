#include "common/packet/packet.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/packet/checksum.h"

namespace nfbpf::packet {

namespace {

[[noreturn]] void bad_literal(std::string_view what, std::string_view text) {
  std::fprintf(stderr, "nfbpf::packet: bad %.*s literal '%.*s'\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(text.size()), text.data());
  std::abort();
}

void put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
void put32(Bytes& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void push16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void push32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (24 - 8 * i)));
}
void pad_to(Bytes& b, size_t multiple, uint8_t fill = 0) {
  while (b.size() % multiple) b.push_back(fill);
}

void parse_mac(std::string_view text, uint8_t out[6]) {
  unsigned v[6];
  std::string s(text);
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    bad_literal("MAC", text);
  for (int i = 0; i < 6; ++i) {
    if (v[i] > 0xff) bad_literal("MAC", text);
    out[i] = static_cast<uint8_t>(v[i]);
  }
}

// IPv6 options area: pad `opts` (after the 2 fixed bytes) so the header is a multiple of 8 bytes,
// with Pad1 for one byte and PadN otherwise (RFC 8200 section 4.2).
Bytes padded_options(Bytes opts) {
  size_t total = 2 + opts.size();
  size_t pad = (8 - total % 8) % 8;
  if (pad == 1) {
    opts.push_back(0);
  } else if (pad > 1) {
    opts.push_back(1);
    opts.push_back(static_cast<uint8_t>(pad - 2));
    opts.insert(opts.end(), pad - 2, 0);
  }
  return opts;
}

}  // namespace

Packet Packet::ipv4(std::string_view src, std::string_view dst) {
  Packet p;
  std::string s(src), d(dst);
  if (inet_pton(AF_INET, s.c_str(), p.src_) != 1) bad_literal("IPv4", src);
  if (inet_pton(AF_INET, d.c_str(), p.dst_) != 1) bad_literal("IPv4", dst);
  return p;
}

Packet Packet::ipv6(std::string_view src, std::string_view dst) {
  Packet p;
  p.v6_ = true;
  std::string s(src), d(dst);
  if (inet_pton(AF_INET6, s.c_str(), p.src_) != 1) bad_literal("IPv6", src);
  if (inet_pton(AF_INET6, d.c_str(), p.dst_) != 1) bad_literal("IPv6", dst);
  return p;
}

Packet& Packet::ether(std::string_view src_mac, std::string_view dst_mac) {
  Eth e{};
  parse_mac(src_mac, e.src);
  parse_mac(dst_mac, e.dst);
  if (eth_) e.type = eth_->type;
  eth_ = e;
  return *this;
}
Packet& Packet::ethertype(uint16_t type) {
  if (!eth_) ether();
  eth_->type = type;
  return *this;
}

Packet& Packet::tos(uint8_t v) { tos_ = v; return *this; }
Packet& Packet::ttl(uint8_t v) { ttl_ = v; return *this; }
Packet& Packet::id(uint16_t v) { id_ = v; return *this; }
Packet& Packet::dont_fragment(bool df) { df_ = df; return *this; }
Packet& Packet::ip_options(Bytes raw) {
  pad_to(raw, 4);
  ip_options_ = std::move(raw);
  return *this;
}
Packet& Packet::fragment(uint16_t offset_bytes, bool more) {
  uint16_t units = static_cast<uint16_t>(offset_bytes / 8);
  if (!v6_) {
    frag_off_ = static_cast<uint16_t>((units & 0x1fff) | (more ? 0x2000 : 0));
    return *this;
  }
  // Fragment header body: reserved, offset<<3 | M, identification (32 bits).
  Bytes body(7, 0);
  uint16_t fo = static_cast<uint16_t>(units << 3 | (more ? 1 : 0));
  body[1] = static_cast<uint8_t>(fo >> 8);
  body[2] = static_cast<uint8_t>(fo);
  uint32_t ident = id_ ? id_ : 0x12345678u;
  for (int i = 0; i < 4; ++i) body[3 + i] = static_cast<uint8_t>(ident >> (24 - 8 * i));
  ext_.push_back({proto::kFragment, std::move(body)});
  return *this;
}

Packet& Packet::traffic_class(uint8_t v) { tos_ = v; return *this; }
Packet& Packet::flow_label(uint32_t v) { flow_label_ = v & 0xfffff; return *this; }

Packet& Packet::hop_by_hop(Bytes options) {
  Bytes opts = padded_options(std::move(options));
  Bytes body;
  body.push_back(static_cast<uint8_t>((2 + opts.size()) / 8 - 1));
  body.insert(body.end(), opts.begin(), opts.end());
  ext_.push_back({proto::kHopByHop, std::move(body)});
  return *this;
}
Packet& Packet::dest_opts(Bytes options) {
  hop_by_hop(std::move(options));
  ext_.back().type = proto::kDstOpts;
  return *this;
}
Packet& Packet::routing(uint8_t type, uint8_t segments_left, Bytes data) {
  // 4 fixed bytes (next, len, type, segments left) + data; total a multiple of 8.
  while ((4 + data.size()) % 8) data.push_back(0);
  Bytes body;
  body.push_back(static_cast<uint8_t>((4 + data.size()) / 8 - 1));
  body.push_back(type);
  body.push_back(segments_left);
  body.insert(body.end(), data.begin(), data.end());
  ext_.push_back({proto::kRouting, std::move(body)});
  return *this;
}
Packet& Packet::ext_header(uint8_t type, Bytes body) {
  ext_.push_back({type, std::move(body)});
  return *this;
}

Packet& Packet::tcp(uint16_t sport, uint16_t dport) {
  l4_ = L4Kind::kTcp;
  l4_proto_ = proto::kTcp;
  sport_ = sport;
  dport_ = dport;
  return *this;
}
Packet& Packet::flags(uint8_t f) { tcp_flags_ = f; return *this; }
Packet& Packet::seq(uint32_t v) { seq_ = v; return *this; }
Packet& Packet::ack_seq(uint32_t v) { ack_ = v; return *this; }
Packet& Packet::window(uint16_t v) { window_ = v; return *this; }
Packet& Packet::urgent(uint16_t v) { urgent_ = v; return *this; }
Packet& Packet::tcp_options(Bytes raw) {
  pad_to(raw, 4);
  tcp_options_ = std::move(raw);
  return *this;
}
Packet& Packet::udp(uint16_t sport, uint16_t dport) {
  l4_ = L4Kind::kUdp;
  l4_proto_ = proto::kUdp;
  sport_ = sport;
  dport_ = dport;
  return *this;
}
Packet& Packet::udplite(uint16_t sport, uint16_t dport) {
  udp(sport, dport);
  l4_ = L4Kind::kUdpLite;
  l4_proto_ = proto::kUdpLite;
  return *this;
}
Packet& Packet::sctp(uint16_t sport, uint16_t dport, uint32_t vtag) {
  l4_ = L4Kind::kSctp;
  l4_proto_ = proto::kSctp;
  sport_ = sport;
  dport_ = dport;
  vtag_ = vtag;
  return *this;
}
Packet& Packet::sctp_chunk(uint8_t type, uint8_t chunk_flags, Bytes value) {
  sctp_chunks_.push_back(type);
  sctp_chunks_.push_back(chunk_flags);
  push16(sctp_chunks_, static_cast<uint16_t>(4 + value.size()));  // length excludes padding
  sctp_chunks_.insert(sctp_chunks_.end(), value.begin(), value.end());
  pad_to(sctp_chunks_, 4);
  return *this;
}
Packet& Packet::icmp(uint8_t type, uint8_t code, uint32_t rest) {
  l4_ = L4Kind::kIcmp;
  l4_proto_ = proto::kIcmp;
  icmp_type_ = type;
  icmp_code_ = code;
  icmp_rest_ = rest;
  return *this;
}
Packet& Packet::icmp_echo(uint16_t ident, uint16_t sequence) {
  return icmp(8, 0, static_cast<uint32_t>(ident) << 16 | sequence);
}
Packet& Packet::icmp6(uint8_t type, uint8_t code, uint32_t rest) {
  icmp(type, code, rest);
  l4_ = L4Kind::kIcmp6;
  l4_proto_ = proto::kIcmp6;
  return *this;
}
Packet& Packet::icmp6_echo(uint16_t ident, uint16_t sequence) {
  return icmp6(128, 0, static_cast<uint32_t>(ident) << 16 | sequence);
}
Packet& Packet::l4(uint8_t protocol, Bytes header) {
  l4_ = L4Kind::kRaw;
  l4_proto_ = protocol;
  raw_l4_ = std::move(header);
  return *this;
}
Packet& Packet::payload(Bytes data) { payload_ = std::move(data); return *this; }
Packet& Packet::payload_size(size_t n, uint8_t fill) { payload_.assign(n, fill); return *this; }

Packet& Packet::ip_version(uint8_t v) { ov_version_ = v; return *this; }
Packet& Packet::ihl(uint8_t words) { ov_ihl_ = words; return *this; }
Packet& Packet::total_length(uint16_t v) { ov_total_len_ = v; return *this; }
Packet& Packet::payload_length(uint16_t v) { ov_payload_len_ = v; return *this; }
Packet& Packet::ip_protocol(uint8_t p) { ov_protocol_ = p; return *this; }
Packet& Packet::ip_checksum(uint16_t v) { ov_ip_csum_ = v; return *this; }
Packet& Packet::l4_checksum(uint16_t v) { ov_l4_csum_ = v; return *this; }
Packet& Packet::udp_length(uint16_t v) { ov_udp_len_ = v; return *this; }
Packet& Packet::tcp_doff(uint8_t words) { ov_doff_ = words; return *this; }
Packet& Packet::truncate(size_t n) { truncate_l3_ = n; return *this; }
Packet& Packet::truncate_l4(size_t n) { truncate_l4_ = n; return *this; }
Packet& Packet::trailer(Bytes junk) { trailer_ = std::move(junk); return *this; }

size_t Packet::l4_offset() const {
  if (!v6_) return 20 + ip_options_.size();
  size_t off = 40;
  for (const auto& e : ext_) off += 1 + e.body.size();
  return off;
}

Bytes Packet::build_l4() const {
  Bytes b;
  switch (l4_) {
    case L4Kind::kNone:
      break;
    case L4Kind::kTcp: {
      push16(b, sport_);
      push16(b, dport_);
      push32(b, seq_);
      push32(b, ack_);
      uint8_t doff = ov_doff_.value_or(static_cast<uint8_t>((20 + tcp_options_.size()) / 4));
      b.push_back(static_cast<uint8_t>(doff << 4));
      b.push_back(tcp_flags_);
      push16(b, window_);
      push16(b, 0);  // checksum
      push16(b, urgent_);
      b.insert(b.end(), tcp_options_.begin(), tcp_options_.end());
      break;
    }
    case L4Kind::kUdp:
    case L4Kind::kUdpLite: {
      push16(b, sport_);
      push16(b, dport_);
      // UDP-Lite: the length field is the checksum coverage; 0 means the whole datagram.
      uint16_t len = l4_ == L4Kind::kUdp ? static_cast<uint16_t>(8 + payload_.size()) : 0;
      push16(b, ov_udp_len_.value_or(len));
      push16(b, 0);
      break;
    }
    case L4Kind::kSctp:
      push16(b, sport_);
      push16(b, dport_);
      push32(b, vtag_);
      push32(b, 0);
      b.insert(b.end(), sctp_chunks_.begin(), sctp_chunks_.end());
      break;
    case L4Kind::kIcmp:
    case L4Kind::kIcmp6:
      b.push_back(icmp_type_);
      b.push_back(icmp_code_);
      push16(b, 0);
      push32(b, icmp_rest_);
      break;
    case L4Kind::kRaw:
      b = raw_l4_;
      break;
  }
  b.insert(b.end(), payload_.begin(), payload_.end());
  return b;
}

void Packet::apply_l4_checksum(Bytes& l4, uint16_t len) const {
  size_t field = 0;
  bool pseudo = true;
  switch (l4_) {
    case L4Kind::kTcp: field = 16; break;
    case L4Kind::kUdp:
    case L4Kind::kUdpLite: field = 6; break;
    case L4Kind::kIcmp: field = 2; pseudo = false; break;
    case L4Kind::kIcmp6: field = 2; break;
    case L4Kind::kSctp: {
      if (l4.size() < 12) return;
      uint32_t crc = ov_l4_csum_ ? *ov_l4_csum_ : crc32c(l4);
      // SCTP stores the CRC32c least significant byte first (RFC 4960 appendix B).
      for (int i = 0; i < 4; ++i) l4[8 + i] = static_cast<uint8_t>(crc >> (8 * i));
      return;
    }
    default: return;
  }
  if (l4.size() < field + 2) return;
  uint16_t csum;
  if (ov_l4_csum_) {
    csum = *ov_l4_csum_;
  } else {
    uint32_t sum = 0;
    if (pseudo) {
      Bytes ph;
      size_t alen = v6_ ? 16 : 4;
      ph.insert(ph.end(), src_, src_ + alen);
      ph.insert(ph.end(), dst_, dst_ + alen);
      if (v6_) {
        push32(ph, len);
        push32(ph, l4_proto_);
      } else {
        ph.push_back(0);
        ph.push_back(l4_proto_);
        push16(ph, len);
      }
      sum = inet_sum(ph);
    }
    csum = inet_finish(inet_sum(l4, sum));
    // UDP over IPv4/IPv6 sends a computed 0 as 0xffff (0 means "no checksum").
    if (csum == 0 && (l4_ == L4Kind::kUdp || l4_ == L4Kind::kUdpLite)) csum = 0xffff;
  }
  put16(l4, field, csum);
}

Bytes Packet::build_l3() const {
  Bytes l4 = build_l4();
  apply_l4_checksum(l4, static_cast<uint16_t>(l4.size()));
  Bytes b;
  if (!v6_) {
    size_t hlen = 20 + ip_options_.size();
    b.assign(hlen, 0);
    uint8_t version = ov_version_.value_or(4);
    uint8_t ihl_words = ov_ihl_.value_or(static_cast<uint8_t>(hlen / 4));
    b[0] = static_cast<uint8_t>(version << 4 | (ihl_words & 0xf));
    b[1] = tos_;
    put16(b, 2, ov_total_len_.value_or(static_cast<uint16_t>(hlen + l4.size())));
    put16(b, 4, id_);
    put16(b, 6, static_cast<uint16_t>(frag_off_ | (df_ ? 0x4000 : 0)));
    b[8] = ttl_;
    b[9] = ov_protocol_.value_or(l4_proto_);
    std::memcpy(&b[12], src_, 4);
    std::memcpy(&b[16], dst_, 4);
    if (!ip_options_.empty()) std::memcpy(&b[20], ip_options_.data(), ip_options_.size());
    put16(b, 10, ov_ip_csum_.value_or(inet_finish(inet_sum(b))));
  } else {
    b.assign(40, 0);
    uint8_t version = ov_version_.value_or(6);
    uint32_t w0 = static_cast<uint32_t>(version) << 28 | static_cast<uint32_t>(tos_) << 20 | flow_label_;
    put32(b, 0, w0);
    size_t ext_len = 0;
    for (const auto& e : ext_) ext_len += 1 + e.body.size();
    put16(b, 4, ov_payload_len_.value_or(static_cast<uint16_t>(ext_len + l4.size())));
    b[7] = ttl_;
    std::memcpy(&b[8], src_, 16);
    std::memcpy(&b[24], dst_, 16);
    // Chain next headers: IPv6 header -> ext[0] -> ... -> L4.
    uint8_t last = ov_protocol_.value_or(l4_proto_);
    b[6] = ext_.empty() ? last : ext_[0].type;
    for (size_t i = 0; i < ext_.size(); ++i) {
      b.push_back(i + 1 < ext_.size() ? ext_[i + 1].type : last);
      b.insert(b.end(), ext_[i].body.begin(), ext_[i].body.end());
    }
  }
  b.insert(b.end(), l4.begin(), l4.end());
  size_t keep = b.size();
  if (truncate_l4_) keep = std::min(keep, l4_offset() + *truncate_l4_);
  if (truncate_l3_) keep = std::min(keep, *truncate_l3_);
  b.resize(keep);
  b.insert(b.end(), trailer_.begin(), trailer_.end());
  return b;
}

Bytes Packet::l3() const { return build_l3(); }

Bytes Packet::bytes() const {
  Bytes l3b = build_l3();
  if (!eth_) return l3b;
  Bytes b;
  b.insert(b.end(), eth_->dst, eth_->dst + 6);
  b.insert(b.end(), eth_->src, eth_->src + 6);
  push16(b, eth_->type.value_or(v6_ ? ethertype::kIp6 : ethertype::kIp));
  b.insert(b.end(), l3b.begin(), l3b.end());
  return b;
}

std::string hex(std::span<const uint8_t> data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(data.size() * 2);
  for (uint8_t c : data) {
    s.push_back(kDigits[c >> 4]);
    s.push_back(kDigits[c & 0xf]);
  }
  return s;
}

}  // namespace nfbpf::packet
