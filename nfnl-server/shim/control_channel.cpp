#include "nfnl-server/shim/control_channel.h"

#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "nfnl-server/shim/sys.h"

namespace nfbpf::shim {

std::string daemon_socket_path() {
  const char* env = std::getenv(wire::kSocketPathEnv);
  return (env && *env) ? env : wire::kDefaultSocketPath;
}

int connect_control(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return -ENAMETOOLONG;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int r;
  do {
    r = sys::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    const int err = errno;
    sys::close(fd);
    return -err;
  }
  return fd;
}

int control_send(int control_fd, wire::Header request, std::span<const uint8_t> payload,
                 std::span<const int> fds) {
  request.magic = wire::kMagic;
  request.payload_len = static_cast<uint32_t>(payload.size());
  iovec iov[2] = {{&request, sizeof(request)},
                  {const_cast<uint8_t*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = payload.empty() ? 1 : 2;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 2)];
  if (!fds.empty()) {
    if (fds.size() > 2) return -EINVAL;
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = sys::sendmsg(control_fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EPIPE || errno == ECONNREFUSED) ? -ECONNRESET : -errno;
  return 0;
}

int control_receive(int control_fd, uint32_t token, ControlReply& reply) {
  std::vector<uint8_t> buf(wire::kMaxRecord);
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = sys::recvmsg(control_fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;  // a kernel netlink send does not fail with EINTR
    if (n < 0) return -errno;
    if (n == 0) return -ECONNRESET;  // the daemon went away
    if (static_cast<size_t>(n) < sizeof(wire::Header)) return -EPROTO;
    std::memcpy(&reply.header, buf.data(), sizeof(reply.header));
    if (reply.header.magic != wire::kMagic ||
        reply.header.kind != static_cast<uint16_t>(wire::Kind::kReply) ||
        reply.header.payload_len != static_cast<size_t>(n) - sizeof(wire::Header)) {
      return -EPROTO;
    }
    if (reply.header.token != token) continue;  // a stale reply; cannot happen with one caller
    reply.payload.assign(buf.begin() + sizeof(wire::Header), buf.begin() + n);
    return 0;
  }
}

}  // namespace nfbpf::shim
