#include "nfnl-server/sockopt/shim_client.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "nfnl-server/shim/control_channel.h"
#include "nfnl-server/shim/sys.h"
#include "nfnl-server/sockopt/sockopt_marshal.h"

namespace nfbpf::shim {

namespace {

namespace marshal = nfnl::sockopt::marshal;

struct Answer {
  int status = 0;
  uint32_t write_offset = 0;
  std::vector<uint8_t> data;
};

// One kIptSockopt exchange on its own control connection (so fork, exec and threads need no
// bookkeeping; iptables makes a handful of these calls per command).
int exchange(int family, int optname, int optlen, bool set, std::span<const uint8_t> payload,
             Answer& answer) {
  const std::string path = daemon_socket_path();
  const int fd = connect_control(path);
  if (fd < 0) {
    // As for netlink sockets: say why (once per process), and fail the way a kernel that refuses
    // the connection would; ENOENT would read as "no such table" to iptables.
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) {
      std::fprintf(stderr, "nfbpf-shim: cannot reach nfbpfd at %s: %s\n", path.c_str(),
                   std::strerror(-fd));
    }
    return -ECONNREFUSED;
  }
  constexpr uint32_t kToken = 1;
  int r = 0;
  size_t done = 0;
  do {
    const size_t n = std::min(wire::kMaxChunk, payload.size() - done);
    wire::Header h;
    h.kind = static_cast<uint16_t>(wire::Kind::kIptSockopt);
    h.flags = static_cast<uint16_t>((set ? wire::kIptSet : 0) |
                                    (done + n < payload.size() ? wire::kMore : 0));
    h.token = kToken;
    h.arg0 = family;
    h.arg1 = optname;
    h.arg2 = optlen;
    r = control_send(fd, h, payload.subspan(done, n));
    done += n;
  } while (r == 0 && done < payload.size());
  for (bool more = true; r == 0 && more;) {
    ControlReply reply;
    r = control_receive(fd, kToken, reply);
    if (r != 0) break;
    answer.status = reply.header.status;
    answer.write_offset = static_cast<uint32_t>(reply.header.arg2);
    answer.data.insert(answer.data.end(), reply.payload.begin(), reply.payload.end());
    more = reply.header.flags & wire::kMore;
  }
  sys::close(fd);
  return r;
}

}  // namespace

int xt_sockopt_family(int fd, int level, int optname, bool set) {
  if (level != SOL_IP && level != SOL_IPV6) return 0;
  if (optname < IPT_BASE_CTL || optname > IP6T_SO_GET_MAX) return 0;
  int domain = 0, type = 0;
  socklen_t len = sizeof(int);
  if (sys::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return 0;
  len = sizeof(int);
  if (sys::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_RAW) return 0;
  return nfnl::sockopt::is_xt_sockopt(domain, level, optname, set) ? domain : 0;
}

int ipt_getsockopt(int family, int optname, void* value, socklen_t* len) {
  if (!len) return -EFAULT;
  const int optlen = static_cast<int>(*len);
  if (optlen < 0) return -EINVAL;  // ip_getsockopt / ipv6_getsockopt
  Answer a;
  if (int r = exchange(family, optname, optlen, false, marshal::get_input(value, optlen), a)) {
    return r;
  }
  if (a.status >= 0) marshal::apply_get(value, optlen, a.write_offset, a.data);
  return a.status;
}

int ipt_setsockopt(int family, int optname, const void* value, socklen_t len) {
  Answer a;
  if (int r = exchange(family, optname, static_cast<int>(len), true,
                       marshal::set_input(optname, value, len), a)) {
    return r;
  }
  if (a.status >= 0 && optname == IPT_SO_SET_REPLACE) marshal::apply_replace(value, a.data);
  return a.status;
}

int xt_proc_names_family(const char* path) {
  if (!path) return 0;
  if (std::strcmp(path, "/proc/net/ip_tables_names") == 0) return AF_INET;
  if (std::strcmp(path, "/proc/net/ip6_tables_names") == 0) return AF_INET6;
  return 0;
}

FILE* open_xt_proc_names(int family) {
  Answer a;
  if (int r = exchange(family, marshal::kProcNames, 0, false, {}, a); r != 0 || a.status < 0) {
    errno = r != 0 ? -r : -a.status;
    return nullptr;
  }
  const int fd = static_cast<int>(::syscall(SYS_memfd_create, "xt_tables_names", MFD_CLOEXEC));
  if (fd < 0) return nullptr;
  size_t done = 0;
  while (done < a.data.size()) {
    const long n = ::syscall(SYS_write, fd, a.data.data() + done, a.data.size() - done);
    if (n <= 0) {
      sys::close(fd);
      errno = EIO;
      return nullptr;
    }
    done += static_cast<size_t>(n);
  }
  ::syscall(SYS_lseek, fd, 0, SEEK_SET);
  FILE* f = ::fdopen(fd, "r");
  if (!f) sys::close(fd);
  return f;
}

}  // namespace nfbpf::shim
