#include "nfnl-server/daemon/peer_credentials.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "common/fd.h"

namespace nfbpf::nfnl::daemon {

namespace {

// The whole of a small /proc file such as comm; "" when it cannot be read.
std::string read_small_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  std::string out;
  std::array<char, 4096> buf;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n <= 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

Result<PeerCredentials> read_peer_credentials(int connected_fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(connected_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return fail_errno("getsockopt(SO_PEERCRED)");
  }
  PeerCredentials out{cred.pid, cred.uid, cred.gid, {}};
  out.comm = read_small_file("/proc/" + std::to_string(cred.pid) + "/comm");
  while (!out.comm.empty() && out.comm.back() == '\n') out.comm.pop_back();
  return out;
}

bool has_cap_net_admin(pid_t pid) {
  if (pid <= 0) return false;
  // capget(2) reads another process's sets without privilege: one system call, where
  // /proc/<pid>/status (CapEff) costs an open, a read and a close per request.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, pid};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;  // gone: no capabilities
  return (data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN)) != 0;
}

}  // namespace nfbpf::nfnl::daemon
