#pragma once
// Who is on the other end of a unix connection, as far as netfilter permission checks care.

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace nfbpf::nfnl::daemon {

struct PeerCredentials {
  pid_t pid = 0;  // in the daemon's pid namespace (SO_PEERCRED translates it)
  uid_t uid = 0;
  gid_t gid = 0;
  std::string comm;  // /proc/<pid>/comm, "" when the process is gone
};

Result<PeerCredentials> read_peer_credentials(int connected_fd);

// CAP_NET_ADMIN in the effective set of `pid` right now (capget(2)). The kernel
// checks capabilities at send time, so callers ask per request rather than caching.
// A process that has gone away has no capabilities.
bool has_cap_net_admin(pid_t pid);

}  // namespace nfbpf::nfnl::daemon
