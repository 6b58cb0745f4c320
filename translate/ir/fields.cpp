#include "translate/ir/fields.h"

#include <array>

namespace nfbpf::ir {

namespace {

constexpr Field payload(Base b, uint32_t off, uint32_t len, Proto p) {
  return Field{.base = b, .offset = off, .len = len, .proto = p};
}
constexpr Field meta(MetaKey k, uint32_t len, bool host) {
  return Field{.base = Base::kMeta, .len = len, .key = static_cast<uint8_t>(k), .host_order = host};
}
constexpr Field ct(CtKey k, uint32_t len, bool host) {
  return Field{.base = Base::kCt, .len = len, .key = static_cast<uint8_t>(k), .host_order = host};
}

constexpr auto NH = Base::kNetwork;
constexpr auto TH = Base::kTransport;

using KF = KnownField;
constexpr std::array<KnownFieldInfo, static_cast<size_t>(KF::kCount)> kKnown = {{
    {KF::kMetaNfProto, "meta nfproto", meta(MetaKey::kNfProto, 1, true), {}},
    {KF::kMetaL4Proto, "meta l4proto", meta(MetaKey::kL4Proto, 1, true), {}},
    {KF::kMetaProtocol, "meta protocol", meta(MetaKey::kProtocol, 2, false), {}},
    {KF::kMetaMark, "meta mark", meta(MetaKey::kMark, 4, true), {}},
    {KF::kMetaIif, "meta iif", meta(MetaKey::kIif, 4, true), {}},
    {KF::kMetaOif, "meta oif", meta(MetaKey::kOif, 4, true), {}},
    {KF::kMetaIifName, "meta iifname", meta(MetaKey::kIifName, 16, false), {}},
    {KF::kMetaOifName, "meta oifname", meta(MetaKey::kOifName, 16, false), {}},
    {KF::kMetaLen, "meta length", meta(MetaKey::kLen, 4, true), {}},
    {KF::kMetaPktType, "meta pkttype", meta(MetaKey::kPktType, 1, true), {}},
    {KF::kMetaIifType, "meta iiftype", meta(MetaKey::kIifType, 2, true), {}},
    {KF::kMetaOifType, "meta oiftype", meta(MetaKey::kOifType, 2, true), {}},
    {KF::kMetaSkUid, "meta skuid", meta(MetaKey::kSkUid, 4, true), {}},
    {KF::kMetaSkGid, "meta skgid", meta(MetaKey::kSkGid, 4, true), {}},
    {KF::kMetaCpu, "meta cpu", meta(MetaKey::kCpu, 4, true), {}},
    {KF::kMetaPriority, "meta priority", meta(MetaKey::kPriority, 4, true), {}},
    {KF::kIp4Version, "ip version", payload(NH, 0, 1, Proto::kIp4), 0xf0},
    {KF::kIp4Dscp, "ip dscp", payload(NH, 1, 1, Proto::kIp4), 0xfc},
    {KF::kIp4Length, "ip length", payload(NH, 2, 2, Proto::kIp4), {}},
    {KF::kIp4Id, "ip id", payload(NH, 4, 2, Proto::kIp4), {}},
    {KF::kIp4FragOff, "ip frag-off", payload(NH, 6, 2, Proto::kIp4), {}},
    {KF::kIp4Ttl, "ip ttl", payload(NH, 8, 1, Proto::kIp4), {}},
    {KF::kIp4Protocol, "ip protocol", payload(NH, 9, 1, Proto::kIp4), {}},
    {KF::kIp4Checksum, "ip checksum", payload(NH, 10, 2, Proto::kIp4), {}},
    {KF::kIp4Saddr, "ip saddr", payload(NH, 12, 4, Proto::kIp4), {}},
    {KF::kIp4Daddr, "ip daddr", payload(NH, 16, 4, Proto::kIp4), {}},
    {KF::kIp6Version, "ip6 version", payload(NH, 0, 1, Proto::kIp6), 0xf0},
    {KF::kIp6Dscp, "ip6 dscp", payload(NH, 0, 2, Proto::kIp6), 0x0fc0},
    {KF::kIp6FlowLabel, "ip6 flowlabel", payload(NH, 1, 3, Proto::kIp6), 0x0fffff},
    {KF::kIp6Length, "ip6 length", payload(NH, 4, 2, Proto::kIp6), {}},
    {KF::kIp6NextHdr, "ip6 nexthdr", payload(NH, 6, 1, Proto::kIp6), {}},
    {KF::kIp6HopLimit, "ip6 hoplimit", payload(NH, 7, 1, Proto::kIp6), {}},
    {KF::kIp6Saddr, "ip6 saddr", payload(NH, 8, 16, Proto::kIp6), {}},
    {KF::kIp6Daddr, "ip6 daddr", payload(NH, 24, 16, Proto::kIp6), {}},
    {KF::kTcpSport, "tcp sport", payload(TH, 0, 2, Proto::kTcp), {}},
    {KF::kTcpDport, "tcp dport", payload(TH, 2, 2, Proto::kTcp), {}},
    {KF::kTcpSeq, "tcp sequence", payload(TH, 4, 4, Proto::kTcp), {}},
    {KF::kTcpAck, "tcp ackseq", payload(TH, 8, 4, Proto::kTcp), {}},
    {KF::kTcpDoff, "tcp doff", payload(TH, 12, 1, Proto::kTcp), 0xf0},
    {KF::kTcpFlags, "tcp flags", payload(TH, 13, 1, Proto::kTcp), {}},
    {KF::kTcpWindow, "tcp window", payload(TH, 14, 2, Proto::kTcp), {}},
    {KF::kUdpSport, "udp sport", payload(TH, 0, 2, Proto::kUdp), {}},
    {KF::kUdpDport, "udp dport", payload(TH, 2, 2, Proto::kUdp), {}},
    {KF::kUdpLength, "udp length", payload(TH, 4, 2, Proto::kUdp), {}},
    {KF::kSctpSport, "sctp sport", payload(TH, 0, 2, Proto::kSctp), {}},
    {KF::kSctpDport, "sctp dport", payload(TH, 2, 2, Proto::kSctp), {}},
    {KF::kSctpVtag, "sctp vtag", payload(TH, 4, 4, Proto::kSctp), {}},
    {KF::kIcmpType, "icmp type", payload(TH, 0, 1, Proto::kIcmp), {}},
    {KF::kIcmpCode, "icmp code", payload(TH, 1, 1, Proto::kIcmp), {}},
    {KF::kIcmpId, "icmp id", payload(TH, 4, 2, Proto::kIcmp), {}},
    {KF::kIcmpSeq, "icmp sequence", payload(TH, 6, 2, Proto::kIcmp), {}},
    {KF::kIcmp6Type, "icmpv6 type", payload(TH, 0, 1, Proto::kIcmp6), {}},
    {KF::kIcmp6Code, "icmpv6 code", payload(TH, 1, 1, Proto::kIcmp6), {}},
    {KF::kCtState, "ct state", ct(CtKey::kState, 4, true), {}},
    {KF::kCtStatus, "ct status", ct(CtKey::kStatus, 4, true), {}},
    {KF::kCtDirection, "ct direction", ct(CtKey::kDirection, 1, true), {}},
    {KF::kCtMark, "ct mark", ct(CtKey::kMark, 4, true), {}},
}};

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kKnown.size(); ++i)
    if (static_cast<size_t>(kKnown[i].id) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "kKnown rows must follow KnownField order");

template <typename E, size_t N>
std::string_view name_in(const std::array<std::string_view, N>& names, E e) {
  static_assert(N == static_cast<size_t>(E::kCount));
  auto i = static_cast<size_t>(e);
  return i < N ? names[i] : std::string_view("?");
}

}  // namespace

const KnownFieldInfo& known_field_info(KnownField f) { return kKnown[static_cast<size_t>(f)]; }

std::optional<std::string_view> field_name(const Field& f) {
  for (const auto& k : kKnown) {
    const Field& g = k.field;
    if (g.base != f.base || g.len != f.len || g.host_order != f.host_order) continue;
    if (f.base == Base::kMeta || f.base == Base::kCt) {
      if (g.key == f.key && (f.base == Base::kMeta || g.dir == f.dir)) return k.name;
    } else if (g.offset == f.offset && g.proto == f.proto) {
      return k.name;
    }
  }
  return std::nullopt;
}

bool natively_host_order(const Field& f) {
  if (f.base == Base::kMeta) {
    switch (static_cast<MetaKey>(f.key)) {
      case MetaKey::kProtocol: case MetaKey::kIifName: case MetaKey::kOifName: case MetaKey::kIifKind:
      case MetaKey::kOifKind:
      // nft's random is a big-endian integer type: no byteorder before ordered compares, so the
      // kernel compares the register's bytes (the host-order u32 as stored) in memcmp order.
      case MetaKey::kRandom:
      case MetaKey::kRtNexthop4: case MetaKey::kRtNexthop6:  // addresses
        return false;
      default:
        return true;
    }
  }
  if (f.base == Base::kCt) {
    switch (static_cast<CtKey>(f.key)) {
      case CtKey::kState: case CtKey::kDirection: case CtKey::kStatus: case CtKey::kMark: case CtKey::kSecmark:
      case CtKey::kExpiration: case CtKey::kL3Proto: case CtKey::kProtocol: case CtKey::kPkts: case CtKey::kBytes:
      case CtKey::kAvgPkt: case CtKey::kZone: case CtKey::kEventMask: case CtKey::kId:
        return true;
      default:
        return false;
    }
  }
  return false;
}

std::string_view to_string(Family f) {
  static constexpr std::array<std::string_view, 6> n = {"ip", "ip6", "inet", "netdev", "arp", "bridge"};
  return name_in(n, f);
}
std::string_view to_string(Hook h) {
  static constexpr std::array<std::string_view, 7> n = {"prerouting", "input", "forward", "output",
                                                        "postrouting", "ingress", "egress"};
  return name_in(n, h);
}
std::string_view to_string(ChainType t) {
  static constexpr std::array<std::string_view, 3> n = {"filter", "route", "nat"};
  return name_in(n, t);
}
std::string_view to_string(VerdictKind v) {
  static constexpr std::array<std::string_view, 6> n = {"accept", "drop", "continue", "return", "jump", "goto"};
  return name_in(n, v);
}
std::string_view to_string(Op o) {
  static constexpr std::array<std::string_view, 10> n = {"==", "!=", "<", "<=", ">", ">=",
                                                         "in-range", "not-in-range", "in", "not-in"};
  return name_in(n, o);
}
std::string_view to_string(MetaKey k) {
  static constexpr std::array<std::string_view, 32> n = {
      "len", "protocol", "mark", "iif", "oif", "iifname", "oifname", "iiftype", "oiftype", "skuid",
      "skgid", "nfproto", "l4proto", "pkttype", "cpu", "iifgroup", "oifgroup", "cgroup", "priority",
      "random", "secpath", "iifkind", "oifkind", "time", "day", "hour", "rt classid", "rt ip nexthop",
      "rt ip6 nexthop", "rt ipsec", "xt6 l4proto", "xt6 fragoff"};
  return name_in(n, k);
}
std::string_view to_string(CtKey k) {
  static constexpr std::array<std::string_view, 24> n = {
      "state", "direction", "status", "mark", "secmark", "expiration", "helper", "l3proto",
      "saddr", "daddr", "protocol", "proto-src", "proto-dst", "label", "packets", "bytes", "avgpkt",
      "zone", "event", "ip saddr", "ip daddr", "ip6 saddr", "ip6 daddr", "id"};
  return name_in(n, k);
}

std::string_view to_string(ExtHdrOp o) {
  static constexpr std::array<std::string_view, 5> n = {"ipv6", "tcpopt", "ipv4", "sctp", "dccp"};
  return name_in(n, o);
}

}  // namespace nfbpf::ir
