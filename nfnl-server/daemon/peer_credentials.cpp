#include "nfnl-server/daemon/peer_credentials.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/fd.h"

namespace nfbpf::nfnl::daemon {

namespace {

// Small, allocation-free read of a /proc file (status is ~1.5 KB).
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
  const std::string status = read_small_file("/proc/" + std::to_string(pid) + "/status");
  constexpr std::string_view kKey = "\nCapEff:";
  const size_t at = status.find(kKey);
  if (at == std::string::npos) return false;
  const unsigned long long eff = std::strtoull(status.c_str() + at + kKey.size(), nullptr, 16);
  return (eff >> CAP_NET_ADMIN) & 1ULL;
}

}  // namespace nfbpf::nfnl::daemon
