// x_tables extensions by name: the ones nfbpf lowers, and the ones it refuses with a reason.
#include <array>

#include <fmt/format.h>

#include "translate/ipt/extension.h"

namespace nfbpf::translate::ipt {

namespace {

constexpr std::string_view kNat = "address translation needs the kernel's conntrack NAT bindings";

constexpr std::array kMatches = {
    Extension{"tcp", lower_tcp, {}},
    Extension{"udp", lower_udp, {}},
    Extension{"icmp", lower_icmp, {}},
    Extension{"icmp6", lower_icmp6, {}},
    Extension{"multiport", lower_multiport, {}},
    Extension{"iprange", lower_iprange, {}},
    Extension{"comment", lower_comment, {}},
    Extension{"mark", lower_mark, {}},
    Extension{"state", lower_state, {}},
    Extension{"conntrack", lower_conntrack, {}},
    Extension{"length", lower_length, {}},
    Extension{"ttl", lower_ttl, {}},
    Extension{"hl", lower_hl, {}},
    Extension{"dscp", lower_dscp, {}},
    Extension{"pkttype", lower_pkttype, {}},
    Extension{"limit", lower_limit, {}},
    Extension{"mac", lower_mac, {}},
    Extension{"addrtype", nullptr, "address types need the kernel's routing tables (inet_addr_type)"},
    Extension{"hashlimit", nullptr, "per-flow rate limits need a hash table updated from the packet path (not supported yet)"},
    Extension{"recent", nullptr, "the recent list is updated from the packet path (not supported)"},
    Extension{"connlimit", nullptr, "connection counting needs conntrack"},
    Extension{"connmark", nullptr, "conntrack marks are not supported yet"},
    Extension{"connbytes", nullptr, "conntrack accounting is not supported"},
    Extension{"helper", nullptr, "conntrack helpers are not supported"},
    Extension{"owner", nullptr, "socket owner matching is not supported yet"},
    Extension{"set", nullptr, "ipset lookups are not supported"},
    Extension{"policy", nullptr, "IPsec policy matching is not supported"},
    Extension{"physdev", nullptr, "bridge port matching is not supported"},
    Extension{"string", nullptr, "payload string search is not supported"},
    Extension{"u32", nullptr, "u32 programs are not supported yet"},
    Extension{"bpf", nullptr, "embedded BPF programs are not supported"},
    Extension{"statistic", nullptr, "random and nth sampling is not supported yet"},
    Extension{"time", nullptr, "time-of-day matching is not supported yet"},
    Extension{"tos", nullptr, "tos matching is not supported yet"},
    Extension{"ecn", nullptr, "ecn matching is not supported yet"},
    Extension{"sctp", nullptr, "sctp matching is not supported yet"},
    Extension{"dccp", nullptr, "dccp matching is not supported yet"},
    Extension{"esp", nullptr, "esp matching is not supported yet"},
    Extension{"ah", nullptr, "ah matching is not supported yet"},
    Extension{"frag", nullptr, "IPv6 extension header matching is not supported yet"},
    Extension{"hbh", nullptr, "IPv6 extension header matching is not supported yet"},
    Extension{"dst", nullptr, "IPv6 extension header matching is not supported yet"},
    Extension{"rt", nullptr, "IPv6 extension header matching is not supported yet"},
    Extension{"ipv6header", nullptr, "IPv6 extension header matching is not supported yet"},
    Extension{"socket", nullptr, "socket lookups are not supported"},
    Extension{"rpfilter", nullptr, "reverse path lookups need the kernel's routing tables"},
    Extension{"realm", nullptr, "routing realms need the kernel's routing tables"},
    Extension{"cgroup", nullptr, "cgroup matching is not supported yet"},
    Extension{"quota", nullptr, "quota is not supported yet"},
    Extension{"devgroup", nullptr, "device groups are not supported yet"},
    Extension{"cpu", nullptr, "cpu matching is not supported yet"},
    Extension{"osf", nullptr, "passive OS fingerprinting is not supported"},
};

constexpr std::array kTargets = {
    Extension{"MARK", lower_mark_target, {}},
    Extension{"LOG", lower_log_target, {}},
    Extension{"REJECT", nullptr, "sends ICMP errors or TCP resets, which a BPF netfilter program cannot"},
    Extension{"SNAT", nullptr, kNat},
    Extension{"DNAT", nullptr, kNat},
    Extension{"MASQUERADE", nullptr, kNat},
    Extension{"REDIRECT", nullptr, kNat},
    Extension{"NETMAP", nullptr, kNat},
    Extension{"NFQUEUE", nullptr, "queues packets to userspace"},
    Extension{"NFLOG", nullptr, "nflog is not supported yet"},
    Extension{"CT", nullptr, "changes conntrack state (zones, helpers, notrack)"},
    Extension{"NOTRACK", nullptr, "changes conntrack state"},
    Extension{"CONNMARK", nullptr, "conntrack marks are not supported yet"},
    Extension{"CONNSECMARK", nullptr, "security marks are not supported"},
    Extension{"SECMARK", nullptr, "security marks are not supported"},
    Extension{"TCPMSS", nullptr, "rewrites TCP options, which a BPF netfilter program cannot"},
    Extension{"TCPOPTSTRIP", nullptr, "rewrites TCP options, which a BPF netfilter program cannot"},
    Extension{"DSCP", nullptr, "rewrites the IP header, which a BPF netfilter program cannot"},
    Extension{"TOS", nullptr, "rewrites the IP header, which a BPF netfilter program cannot"},
    Extension{"TTL", nullptr, "rewrites the IP header, which a BPF netfilter program cannot"},
    Extension{"HL", nullptr, "rewrites the IP header, which a BPF netfilter program cannot"},
    Extension{"ECN", nullptr, "rewrites the IP header, which a BPF netfilter program cannot"},
    Extension{"CHECKSUM", nullptr, "rewrites checksums, which a BPF netfilter program cannot"},
    Extension{"CLASSIFY", nullptr, "sets skb->priority (not supported yet)"},
    Extension{"TEE", nullptr, "duplicates packets to another destination"},
    Extension{"TPROXY", nullptr, "assigns packets to a transparent proxy socket"},
    Extension{"SYNPROXY", nullptr, "answers TCP handshakes on the server's behalf"},
    Extension{"TRACE", nullptr, "packet tracing is not supported"},
    Extension{"AUDIT", nullptr, "audit records are not supported"},
    Extension{"SET", nullptr, "ipset updates are not supported"},
    Extension{"IDLETIMER", nullptr, "idle timers are not supported"},
    Extension{"LED", nullptr, "LED triggers are not supported"},
    Extension{"RATEEST", nullptr, "rate estimators are not supported"},
    Extension{"HMARK", nullptr, "hash marks are not supported yet"},
    Extension{"CLUSTERIP", nullptr, "cluster IP is not supported"},
};

template <size_t N>
const Extension* find(const std::array<Extension, N>& list, std::string_view name) {
  for (const auto& x : list)
    if (x.name == name) return &x;
  return nullptr;
}

}  // namespace

const Extension* find_match(std::string_view name) { return find(kMatches, name); }
const Extension* find_target(std::string_view name) { return find(kTargets, name); }

ir::Proto EntryContext::proto() const {
  switch (l4proto) {
    case 6: return ir::Proto::kTcp;
    case 17: return ir::Proto::kUdp;
    case 136: return ir::Proto::kUdpLite;
    case 132: return ir::Proto::kSctp;
    case 33: return ir::Proto::kDccp;
    case 1: return ir::Proto::kIcmp;
    case 58: return ir::Proto::kIcmp6;
    default: return ir::Proto::kRaw;
  }
}

std::string EntryContext::where() const {
  return fmt::format("entry {}, rule {} of chain {} in {} {}", entry_index, rule_in_chain, chain,
                     family == ir::Family::kIp6 ? "ip6" : "ip", table);
}

namespace util {

ir::Field transport_field(uint32_t offset, uint32_t len, ir::Proto proto, const EntryContext& ctx) {
  return ir::Field{.base = ctx.xt6_walk ? ir::Base::kXtTransport : ir::Base::kTransport, .offset = offset, .len = len,
                   .proto = proto};
}

ir::Match l4_header_present(uint32_t header_len, ir::Proto proto, const EntryContext& ctx) {
  return ir::Match{.key = {transport_field(header_len - 3, 3, proto, ctx)},
                   .mask = ir::Bytes(3, 0), .op = ir::Op::kEq, .value = ir::Bytes(3, 0)};
}

std::optional<ir::Match> port_range(ir::Field f, uint16_t lo, uint16_t hi, bool invert) {
  auto be = [](uint16_t v) { return ir::Bytes{static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; };
  if (lo == 0 && hi == 0xffff && !invert) return std::nullopt;
  if (lo == hi) return ir::Match{.key = {f}, .op = invert ? ir::Op::kNe : ir::Op::kEq, .value = be(lo)};
  return ir::Match{.key = {f}, .op = invert ? ir::Op::kNotRange : ir::Op::kRange, .value = be(lo), .value_hi = be(hi)};
}

}  // namespace util

}  // namespace nfbpf::translate::ipt
