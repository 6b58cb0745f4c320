#pragma once
// The kernel's af_netlink.c socket calls (bind, connect, getsockname/getpeername, setsockopt,
// getsockopt) applied to an emulated socket's state, with the kernel's errno for each refusal.

#include <linux/netlink.h>
#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "nfnl-server/daemon/netlink_socket.h"
#include "nfnl-server/daemon/port_table.h"

namespace nfbpf::nfnl::daemon {

// The process making the call, as the kernel sees `current`.
struct Caller {
  pid_t pid = 0;  // in the caller's own pid namespace (task_tgid_vnr), used for autobind
  bool cap_net_admin = false;
};

void ensure_bound(NetlinkSocket& s, PortTable& ports, const Caller& caller);

Result<void> netlink_bind(NetlinkSocket& s, PortTable& ports, std::span<const uint8_t> addr,
                          const Caller& caller);
Result<void> netlink_connect(NetlinkSocket& s, PortTable& ports, std::span<const uint8_t> addr,
                             const Caller& caller);
sockaddr_nl netlink_getname(const NetlinkSocket& s, bool peer);

Result<void> netlink_setsockopt(NetlinkSocket& s, int level, int optname,
                                std::span<const uint8_t> value, const Caller& caller);
// `optlen` is the caller's buffer size; the result is what the kernel copies out (its size is
// the optlen the caller sees).
Result<std::vector<uint8_t>> netlink_getsockopt(const NetlinkSocket& s, int level, int optname,
                                                int optlen);

}  // namespace nfbpf::nfnl::daemon
