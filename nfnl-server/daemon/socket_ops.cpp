#include "nfnl-server/daemon/socket_ops.h"

#include <sys/socket.h>

#include <cstring>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace nfbpf::nfnl::daemon {

namespace {

constexpr uint64_t kGroupMask = (uint64_t{1} << kNfnlGroups) - 1;

Result<sockaddr_nl> parse_addr(std::span<const uint8_t> addr) {
  sockaddr_nl nl{};
  if (addr.size() < sizeof(nl)) return fail(EINVAL, "netlink address too short");
  std::memcpy(&nl, addr.data(), sizeof(nl));
  if (nl.nl_family != AF_NETLINK) return fail(EINVAL, "not an AF_NETLINK address");
  return nl;
}

bool* flag_for(NetlinkFlags& f, int optname) {
  switch (optname) {
    case NETLINK_PKTINFO: return &f.pktinfo;
    case NETLINK_BROADCAST_ERROR: return &f.broadcast_error;
    case NETLINK_NO_ENOBUFS: return &f.no_enobufs;
    case NETLINK_LISTEN_ALL_NSID: return &f.listen_all_nsid;
    case NETLINK_CAP_ACK: return &f.cap_ack;
    case NETLINK_EXT_ACK: return &f.ext_ack;
    case NETLINK_GET_STRICT_CHK: return &f.strict_chk;
    default: return nullptr;
  }
}

}  // namespace

void ensure_bound(NetlinkSocket& s, PortTable& ports, const Caller& caller) {
  if (!s.bound()) s.set_portid(ports.autobind(caller.pid));
}

Result<void> netlink_bind(NetlinkSocket& s, PortTable& ports, std::span<const uint8_t> addr,
                          const Caller& caller) {
  auto nl = parse_addr(addr);
  if (!nl) return std::unexpected(nl.error());
  uint64_t groups = nl->nl_groups;
  // Only CAP_NET_ADMIN may listen to nfnetlink multicast (no NL_CFG_F_NONROOT_RECV).
  if (groups && !caller.cap_net_admin) return fail(EPERM, "joining groups needs CAP_NET_ADMIN");
  groups &= kGroupMask;
  if (s.bound()) {
    if (nl->nl_pid != s.portid()) return fail(EINVAL, "socket already bound to another port");
  } else if (nl->nl_pid != 0) {
    NFBPF_TRYV(ports.bind(nl->nl_pid));
    s.set_portid(nl->nl_pid);
  } else {
    ensure_bound(s, ports, caller);
  }
  if (!groups && (s.groups() & 0xffffffffULL) == 0) return {};
  // bind() replaces the first 32 groups and keeps those joined with NETLINK_ADD_MEMBERSHIP above.
  s.set_groups(groups | (s.groups() & ~0xffffffffULL));
  return {};
}

Result<void> netlink_connect(NetlinkSocket& s, PortTable& ports, std::span<const uint8_t> addr,
                             const Caller& caller) {
  if (addr.size() < sizeof(sa_family_t)) return fail(EINVAL, "address too short");
  sa_family_t family;
  std::memcpy(&family, addr.data(), sizeof(family));
  if (family == AF_UNSPEC) {
    s.dst_portid = 0;
    s.dst_group = 0;
    return {};
  }
  auto nl = parse_addr(addr);
  if (!nl) return std::unexpected(nl.error());
  // Sending to other ports or groups needs NL_CFG_F_NONROOT_SEND, which nfnetlink lacks.
  if ((nl->nl_groups || nl->nl_pid) && !caller.cap_net_admin) {
    return fail(EPERM, "connecting to a port or group needs CAP_NET_ADMIN");
  }
  ensure_bound(s, ports, caller);
  s.dst_portid = nl->nl_pid;
  s.dst_group = static_cast<uint32_t>(__builtin_ffs(static_cast<int>(nl->nl_groups)));
  return {};
}

sockaddr_nl netlink_getname(const NetlinkSocket& s, bool peer) {
  sockaddr_nl nl{};
  nl.nl_family = AF_NETLINK;
  if (peer) {
    nl.nl_pid = s.dst_portid;
    nl.nl_groups = s.dst_group ? (1u << (s.dst_group - 1)) : 0;
  } else {
    nl.nl_pid = s.portid();
    nl.nl_groups = static_cast<uint32_t>(s.groups() & 0xffffffffULL);
  }
  return nl;
}

Result<void> netlink_setsockopt(NetlinkSocket& s, int level, int optname,
                                std::span<const uint8_t> value, const Caller& caller) {
  if (level != SOL_NETLINK) return fail(ENOPROTOOPT, "not a SOL_NETLINK option");
  int val = 0;  // the kernel reads an int only when optlen allows and uses 0 otherwise
  if (value.size() >= sizeof(int)) std::memcpy(&val, value.data(), sizeof(int));

  if (optname == NETLINK_ADD_MEMBERSHIP || optname == NETLINK_DROP_MEMBERSHIP) {
    if (!caller.cap_net_admin) return fail(EPERM, "group membership needs CAP_NET_ADMIN");
    if (val == 0 || static_cast<uint32_t>(val) - 1 >= kNfnlGroups) {
      return failf(EINVAL, "no nfnetlink group {}", val);
    }
    const uint64_t bit = uint64_t{1} << (val - 1);
    s.set_groups(optname == NETLINK_ADD_MEMBERSHIP ? (s.groups() | bit) : (s.groups() & ~bit));
    return {};
  }
  NetlinkFlags flags = s.flags;
  bool* flag = flag_for(flags, optname);
  if (!flag) return failf(ENOPROTOOPT, "netlink option {} not supported", optname);
  *flag = val != 0;
  s.flags = flags;
  return {};
}

Result<std::vector<uint8_t>> netlink_getsockopt(const NetlinkSocket& s, int level, int optname,
                                                int optlen) {
  if (level != SOL_NETLINK) return fail(ENOPROTOOPT, "not a SOL_NETLINK option");
  if (optlen < 0) return fail(EINVAL, "negative optlen");

  if (optname == NETLINK_LIST_MEMBERSHIPS) {
    // The group bitmap as u32 words, truncated to the caller's buffer; optlen reports the full
    // size (ALIGN(BITS_TO_BYTES(ngroups), 4)), which the shim writes back.
    const uint32_t words = static_cast<uint32_t>(s.groups() & 0xffffffffULL);
    std::vector<uint8_t> out(sizeof(words));
    std::memcpy(out.data(), &words, sizeof(words));
    return out;
  }
  NetlinkFlags flags = s.flags;
  bool* flag = flag_for(flags, optname);
  if (!flag) return failf(ENOPROTOOPT, "netlink option {} not supported", optname);
  if (optlen < static_cast<int>(sizeof(int))) return fail(EINVAL, "optlen below sizeof(int)");
  const int val = *flag ? 1 : 0;
  std::vector<uint8_t> out(sizeof(int));
  std::memcpy(out.data(), &val, sizeof(int));
  return out;
}

}  // namespace nfbpf::nfnl::daemon
