#pragma once
// The x_tables ABI as iptables-legacy and ip6tables-legacy see it (uapi structs), and what differs
// between the two families: the entry header, the optnames, the flag masks. Everything that walks
// blobs is written once against these traits (IPv4 = ip_tables.c, IPv6 = ip6_tables.c).

// glibc's netinet/in.h must come before the uapi headers (they defer to it, not vice versa).
#include <netinet/in.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nfbpf::nfnl::sockopt {

inline constexpr unsigned kNumHooks = NF_INET_NUMHOOKS;  // PREROUTING..POSTROUTING
inline constexpr unsigned kNoOffset = 0xFFFFFFFFu;      // "hook not set" in hook_entry/underflow

constexpr size_t xt_align(size_t n) { return XT_ALIGN(n); }

struct Ipv4 {
  using Entry = ipt_entry;
  using Ip = ipt_ip;
  using GetInfo = ipt_getinfo;
  using Replace = ipt_replace;
  using GetEntries = ipt_get_entries;
  static constexpr int kFamily = AF_INET;
  static constexpr uint8_t kNfproto = NFPROTO_IPV4;
  static constexpr int kLevel = SOL_IP;
  static constexpr int kGetRevisionMatch = IPT_SO_GET_REVISION_MATCH;
  static constexpr int kGetRevisionTarget = IPT_SO_GET_REVISION_TARGET;
  static constexpr int kGetMax = IPT_SO_GET_MAX;
  static constexpr uint8_t kFlagMask = IPT_F_MASK;
  static constexpr uint8_t kInvMask = IPT_INV_MASK;
  static constexpr uint8_t kInvProto = IPT_INV_PROTO;
  static constexpr const char* kPrefix = "ip";
  static const Ip& ip(const Entry& e) { return e.ip; }
};

struct Ipv6 {
  using Entry = ip6t_entry;
  using Ip = ip6t_ip6;
  using GetInfo = ip6t_getinfo;
  using Replace = ip6t_replace;
  using GetEntries = ip6t_get_entries;
  static constexpr int kFamily = AF_INET6;
  static constexpr uint8_t kNfproto = NFPROTO_IPV6;
  static constexpr int kLevel = SOL_IPV6;
  static constexpr int kGetRevisionMatch = IP6T_SO_GET_REVISION_MATCH;
  static constexpr int kGetRevisionTarget = IP6T_SO_GET_REVISION_TARGET;
  static constexpr int kGetMax = IP6T_SO_GET_MAX;
  static constexpr uint8_t kFlagMask = IP6T_F_MASK;
  static constexpr uint8_t kInvMask = IP6T_INV_MASK;
  static constexpr uint8_t kInvProto = IP6T_INV_PROTO;
  static constexpr const char* kPrefix = "ip6";
  static const Ip& ip(const Entry& e) { return e.ipv6; }
};

// Both families share the option numbers for SET_REPLACE/ADD_COUNTERS/GET_INFO/GET_ENTRIES.
static_assert(IPT_SO_SET_REPLACE == IP6T_SO_SET_REPLACE && IPT_SO_GET_ENTRIES == IP6T_SO_GET_ENTRIES);
inline constexpr int kSetMin = IPT_BASE_CTL;
inline constexpr int kSetMax = IPT_SO_SET_MAX;

// Is (level, optname) one of the ip(6)_tables sockopts nf_sockopt would route to x_tables?
inline bool is_xt_sockopt(int family, int level, int optname, bool set) {
  if (family == AF_INET && level == SOL_IP) {
    return optname >= IPT_BASE_CTL && optname <= (set ? IPT_SO_SET_MAX : IPT_SO_GET_MAX);
  }
  if (family == AF_INET6 && level == SOL_IPV6) {
    return optname >= IP6T_BASE_CTL && optname <= (set ? IP6T_SO_SET_MAX : IP6T_SO_GET_MAX);
  }
  return false;
}

// Unaligned-safe field access into blobs (a blob is a byte vector; entries are 8-aligned in it,
// but the vector's storage only guarantees what operator new gives, which is enough on x86-64;
// memcpy keeps this honest everywhere).
template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <typename T>
void store(uint8_t* p, const T& v) {
  std::memcpy(p, &v, sizeof(T));
}

}  // namespace nfbpf::nfnl::sockopt
