#include "nfnl-server/sockopt/extensions.h"

// glibc's netinet/in.h must come before the uapi headers (they defer to it, not vice versa).
#include <netinet/in.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_state.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <linux/netfilter_ipv6/ip6t_REJECT.h>
#include <linux/netfilter/xt_AUDIT.h>
#include <linux/netfilter/xt_CHECKSUM.h>
#include <linux/netfilter/xt_CLASSIFY.h>
#include <linux/netfilter/xt_CONNSECMARK.h>
#include <linux/netfilter/xt_CT.h>
#include <linux/netfilter/xt_DSCP.h>
#include <linux/netfilter/xt_HMARK.h>
#include <linux/netfilter/xt_IDLETIMER.h>
#include <linux/netfilter/xt_NFLOG.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <linux/netfilter/xt_RATEEST.h>
#include <linux/netfilter/xt_SYNPROXY.h>
#include <linux/netfilter/xt_TCPMSS.h>
#include <linux/netfilter/xt_TCPOPTSTRIP.h>
#include <linux/netfilter/xt_TEE.h>
#include <linux/netfilter/xt_TPROXY.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_cgroup.h>
#include <linux/netfilter/xt_cluster.h>
#include <linux/netfilter/xt_connbytes.h>
#include <linux/netfilter/xt_connlabel.h>
#include <linux/netfilter/xt_connlimit.h>
#include <linux/netfilter/xt_connmark.h>
#include <linux/netfilter/xt_cpu.h>
#include <linux/netfilter/xt_dccp.h>
#include <linux/netfilter/xt_devgroup.h>
#include <linux/netfilter/xt_dscp.h>
#include <linux/netfilter/xt_ecn.h>
#include <linux/netfilter/xt_esp.h>
#include <linux/netfilter/xt_hashlimit.h>
#include <linux/netfilter/xt_helper.h>
#include <linux/netfilter/xt_ipcomp.h>
#include <linux/netfilter/xt_iprange.h>
#include <linux/netfilter/xt_length.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_mac.h>
#include <linux/netfilter/xt_nfacct.h>
#include <linux/netfilter/xt_osf.h>
#include <linux/netfilter/xt_owner.h>
#include <linux/netfilter/xt_physdev.h>
#include <linux/netfilter/xt_pkttype.h>
#include <linux/netfilter/xt_policy.h>
#include <linux/netfilter/xt_quota.h>
#include <linux/netfilter/xt_rateest.h>
#include <linux/netfilter/xt_realm.h>
#include <linux/netfilter/xt_rpfilter.h>
// xt_sctp.h spells bool as C's _Bool.
#define _Bool bool
#include <linux/netfilter/xt_sctp.h>
#undef _Bool
#include <linux/netfilter/xt_set.h>
#include <linux/netfilter/xt_statistic.h>
#include <linux/netfilter/xt_string.h>
#include <linux/netfilter/xt_tcpmss.h>
#include <linux/netfilter/xt_time.h>
#include <linux/netfilter/xt_u32.h>
#include <linux/netfilter_ipv4/ipt_ECN.h>
#include <linux/netfilter_ipv4/ipt_TTL.h>
#include <linux/netfilter_ipv4/ipt_ah.h>
#include <linux/netfilter_ipv6/ip6t_HL.h>
#include <linux/netfilter_ipv6/ip6t_NPT.h>
#include <linux/netfilter_ipv6/ip6t_ah.h>
#include <linux/netfilter_ipv6/ip6t_frag.h>
#include <linux/netfilter_ipv6/ip6t_ipv6header.h>
#include <linux/netfilter_ipv6/ip6t_mh.h>
#include <linux/netfilter_ipv6/ip6t_opts.h>
#include <linux/netfilter_ipv6/ip6t_rt.h>
#include <linux/netfilter_ipv6/ip6t_srh.h>

#include <array>
#include <cerrno>
#include <algorithm>
#include <cstring>

namespace nfbpf::nfnl::sockopt {

namespace {

template <typename T>
T read_payload(std::span<const uint8_t> data) {
  T v{};
  std::memcpy(&v, data.data(), std::min(sizeof(T), data.size()));
  return v;
}

// xt_tcpudp.c: tcp_mt_check / udp_mt_check.
int check_tcp(std::span<const uint8_t> data, const CheckContext&) {
  return (read_payload<xt_tcp>(data).invflags & ~XT_TCP_INV_MASK) ? -EINVAL : 0;
}
int check_udp(std::span<const uint8_t> data, const CheckContext&) {
  return (read_payload<xt_udp>(data).invflags & ~XT_UDP_INV_MASK) ? -EINVAL : 0;
}
// ip_tables.c icmp_checkentry, ip6_tables.c icmp6_checkentry.
int check_icmp(std::span<const uint8_t> data, const CheckContext&) {
  return (read_payload<ipt_icmp>(data).invflags & ~IPT_ICMP_INV) ? -EINVAL : 0;
}
int check_icmp6(std::span<const uint8_t> data, const CheckContext&) {
  return (read_payload<ip6t_icmp>(data).invflags & ~IP6T_ICMP_INV) ? -EINVAL : 0;
}
// xt_multiport.c multiport_mt_check (revision 1): a port protocol, not inverted, a known
// direction, at most XT_MULTI_PORTS ports.
int check_multiport(std::span<const uint8_t> data, const CheckContext& ctx) {
  const auto m = read_payload<xt_multiport_v1>(data);
  const bool proto_ok = ctx.proto == IPPROTO_TCP || ctx.proto == IPPROTO_UDP ||
                        ctx.proto == IPPROTO_UDPLITE || ctx.proto == IPPROTO_SCTP ||
                        ctx.proto == IPPROTO_DCCP;
  const bool flags_ok = m.flags == XT_MULTIPORT_SOURCE || m.flags == XT_MULTIPORT_DESTINATION ||
                        m.flags == XT_MULTIPORT_EITHER;
  return (proto_ok && !ctx.inv_proto && flags_ok && m.count <= XT_MULTI_PORTS) ? 0 : -EINVAL;
}

// xt_LOG.c log_tg_check: a syslog level, a terminated prefix.
int check_log(std::span<const uint8_t> data, const CheckContext&) {
  const auto l = read_payload<xt_log_info>(data);
  if (l.level >= 8) return -EINVAL;
  if (l.prefix[sizeof(l.prefix) - 1] != '\0') return -EINVAL;
  return 0;
}

// The IPv4 compat NAT range (SNAT/DNAT revision 0, MASQUERADE, REDIRECT): exactly one range.
int check_nat_compat(std::span<const uint8_t> data, const CheckContext&) {
  return read_payload<nf_nat_ipv4_multi_range_compat>(data).rangesize == 1 ? 0 : -EINVAL;
}
// MASQUERADE and REDIRECT take ports only, never addresses.
int check_masq4(std::span<const uint8_t> data, const CheckContext& ctx) {
  if (read_payload<nf_nat_ipv4_multi_range_compat>(data).range[0].flags & NF_NAT_RANGE_MAP_IPS) {
    return -EINVAL;
  }
  return check_nat_compat(data, ctx);
}
int check_masq6(std::span<const uint8_t> data, const CheckContext&) {
  return (read_payload<nf_nat_range>(data).flags & NF_NAT_RANGE_MAP_IPS) ? -EINVAL : 0;
}

// ipt_REJECT.c reject_tg_check.
int check_reject4(std::span<const uint8_t> data, const CheckContext& ctx) {
  // `with` is an enum in the uapi struct; read the raw u32 (any value can arrive).
  const auto with = read_payload<uint32_t>(data);
  if (with == IPT_ICMP_ECHOREPLY) return -EINVAL;
  if (with == IPT_TCP_RESET && (ctx.proto != IPPROTO_TCP || ctx.inv_proto)) return -EINVAL;
  return 0;
}
// ip6t_REJECT.c reject_tg6_check.
int check_reject6(std::span<const uint8_t> data, const CheckContext& ctx) {
  const auto with = read_payload<ip6t_reject_info>(data).with;
  if (with == IP6T_ICMP6_ECHOREPLY) return -EINVAL;
  if (with == IP6T_TCP_RESET &&
      (!ctx.ipv6_proto_set || ctx.proto != IPPROTO_TCP || ctx.inv_proto)) {
    return -EINVAL;
  }
  return 0;
}

#include "nfnl-server/sockopt/extension_checks.inc"

constexpr uint32_t kFilterHooks =
    (1u << NF_INET_LOCAL_IN) | (1u << NF_INET_FORWARD) | (1u << NF_INET_LOCAL_OUT);
constexpr uint32_t kSnatHooks = (1u << NF_INET_POST_ROUTING) | (1u << NF_INET_LOCAL_IN);
constexpr uint32_t kDnatHooks = (1u << NF_INET_PRE_ROUTING) | (1u << NF_INET_LOCAL_OUT);

constexpr std::array kMatches = {
    Extension{"tcp", 0, NFPROTO_IPV4, sizeof(xt_tcp), IPPROTO_TCP, 0, {}, check_tcp},
    Extension{"tcp", 0, NFPROTO_IPV6, sizeof(xt_tcp), IPPROTO_TCP, 0, {}, check_tcp},
    Extension{"udp", 0, NFPROTO_IPV4, sizeof(xt_udp), IPPROTO_UDP, 0, {}, check_udp},
    Extension{"udp", 0, NFPROTO_IPV6, sizeof(xt_udp), IPPROTO_UDP, 0, {}, check_udp},
    Extension{"icmp", 0, NFPROTO_IPV4, sizeof(ipt_icmp), IPPROTO_ICMP, 0, {}, check_icmp},
    Extension{"icmp6", 0, NFPROTO_IPV6, sizeof(ip6t_icmp), IPPROTO_ICMPV6, 0, {}, check_icmp6},
    Extension{"comment", 0, NFPROTO_UNSPEC, sizeof(xt_comment_info), 0, 0, {}, nullptr},
    Extension{"multiport", 1, NFPROTO_IPV4, sizeof(xt_multiport_v1), 0, 0, {}, check_multiport},
    Extension{"multiport", 1, NFPROTO_IPV6, sizeof(xt_multiport_v1), 0, 0, {}, check_multiport},
    Extension{"mark", 1, NFPROTO_UNSPEC, sizeof(xt_mark_mtinfo1), 0, 0, {}, nullptr},
    // conntrack_mt_check / state_mt_check only take a conntrack reference.
    Extension{"conntrack", 1, NFPROTO_UNSPEC, sizeof(xt_conntrack_mtinfo1), 0, 0, {}, nullptr},
    Extension{"conntrack", 2, NFPROTO_UNSPEC, sizeof(xt_conntrack_mtinfo2), 0, 0, {}, nullptr},
    Extension{"conntrack", 3, NFPROTO_UNSPEC, sizeof(xt_conntrack_mtinfo3), 0, 0, {}, nullptr},
    Extension{"state", 0, NFPROTO_UNSPEC, sizeof(xt_state_info), 0, 0, {}, nullptr},
#include "nfnl-server/sockopt/extension_matches.inc"
};

constexpr std::array kTargets = {
    Extension{XT_STANDARD_TARGET, 0, NFPROTO_IPV4, sizeof(int), 0, 0, {}, nullptr},
    Extension{XT_STANDARD_TARGET, 0, NFPROTO_IPV6, sizeof(int), 0, 0, {}, nullptr},
    Extension{XT_ERROR_TARGET, 0, NFPROTO_IPV4, XT_FUNCTION_MAXNAMELEN, 0, 0, {}, nullptr},
    Extension{XT_ERROR_TARGET, 0, NFPROTO_IPV6, XT_FUNCTION_MAXNAMELEN, 0, 0, {}, nullptr},
    Extension{"MARK", 2, NFPROTO_UNSPEC, sizeof(xt_mark_tginfo2), 0, 0, {}, nullptr},
    Extension{"LOG", 0, NFPROTO_IPV4, sizeof(xt_log_info), 0, 0, {}, check_log},
    Extension{"LOG", 0, NFPROTO_IPV6, sizeof(xt_log_info), 0, 0, {}, check_log},
    // xt_nat.c, xt_MASQUERADE.c, xt_REDIRECT.c: all registered for the nat table only.
    Extension{"SNAT", 0, NFPROTO_IPV4, sizeof(nf_nat_ipv4_multi_range_compat), 0, kSnatHooks,
              "nat", check_nat_compat},
    Extension{"DNAT", 0, NFPROTO_IPV4, sizeof(nf_nat_ipv4_multi_range_compat), 0, kDnatHooks,
              "nat", check_nat_compat},
    Extension{"SNAT", 1, NFPROTO_UNSPEC, sizeof(nf_nat_range), 0, kSnatHooks, "nat", nullptr},
    Extension{"DNAT", 1, NFPROTO_UNSPEC, sizeof(nf_nat_range), 0, kDnatHooks, "nat", nullptr},
    Extension{"SNAT", 2, NFPROTO_UNSPEC, sizeof(nf_nat_range2), 0, kSnatHooks, "nat", nullptr},
    Extension{"DNAT", 2, NFPROTO_UNSPEC, sizeof(nf_nat_range2), 0, kDnatHooks, "nat", nullptr},
    Extension{"MASQUERADE", 0, NFPROTO_IPV4, sizeof(nf_nat_ipv4_multi_range_compat), 0,
              1u << NF_INET_POST_ROUTING, "nat", check_masq4},
    Extension{"MASQUERADE", 0, NFPROTO_IPV6, sizeof(nf_nat_range), 0, 1u << NF_INET_POST_ROUTING,
              "nat", check_masq6},
    Extension{"REDIRECT", 0, NFPROTO_IPV4, sizeof(nf_nat_ipv4_multi_range_compat), 0, kDnatHooks,
              "nat", check_masq4},
    Extension{"REDIRECT", 0, NFPROTO_IPV6, sizeof(nf_nat_range), 0, kDnatHooks, "nat",
              check_masq6},
    // REJECT is registered with .table = "filter" (seen on 6.18: a blob for another table
    // with REJECT in it is refused with EINVAL before the table is even looked up).
    Extension{"REJECT", 0, NFPROTO_IPV4, sizeof(ipt_reject_info), 0, kFilterHooks, "filter",
              check_reject4},
    Extension{"REJECT", 0, NFPROTO_IPV6, sizeof(ip6t_reject_info), 0, kFilterHooks, "filter",
              check_reject6},
#include "nfnl-server/sockopt/extension_targets.inc"
};

std::span<const Extension> registry(ExtKind kind) {
  if (kind == ExtKind::kMatch) return kMatches;
  return kTargets;
}

// One family's list (the kernel keeps xt[af].match/target lists; UNSPEC is searched second).
const Extension* search(ExtKind kind, uint8_t af, std::string_view name, uint8_t revision,
                        int* err) {
  for (const Extension& e : registry(kind)) {
    if (e.nfproto != af || e.name != name) continue;
    if (e.revision == revision) return &e;
    *err = -EPROTOTYPE;  // xt_find_match: the name exists, the revision does not
  }
  return nullptr;
}

}  // namespace

const Extension* find_extension(ExtKind kind, uint8_t nfproto, std::string_view name,
                                uint8_t revision, int* err) {
  *err = -ENOENT;
  if (const Extension* e = search(kind, nfproto, name, revision, err)) return e;
  if (nfproto == NFPROTO_UNSPEC) return nullptr;
  // xt_find_match/xt_find_target retry NFPROTO_UNSPEC and return that search's result, so a
  // family-specific "wrong revision" (EPROTOTYPE) reads as ENOENT unless UNSPEC knows the name.
  *err = -ENOENT;
  return search(kind, NFPROTO_UNSPEC, name, revision, err);
}

int best_revision(ExtKind kind, uint8_t nfproto, std::string_view name, uint8_t revision) {
  int best = -1;
  bool have = false;
  for (uint8_t af : {nfproto, static_cast<uint8_t>(NFPROTO_UNSPEC)}) {
    for (const Extension& e : registry(kind)) {
      if (e.nfproto != af || e.name != name) continue;
      best = std::max(best, static_cast<int>(e.revision));
      have = have || e.revision == revision;
    }
    if (have) break;  // match_revfn: UNSPEC is consulted only without the revision
  }
  if (best < 0) return -ENOENT;
  return have ? best : -EPROTONOSUPPORT;
}

}  // namespace nfbpf::nfnl::sockopt
