#include "nfnl-server/shim/emulated_socket.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "nfnl-server/shim/sys.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace nfbpf::shim {

namespace {

// Binds the application end to "\0nfbpf-nl.<pid>.<n>.<random>" so that an exec'ed image can
// recognise it; the name carries no authority (nfbpfd identifies sockets by the fd passed).
int name_app_end(int fd) {
  static std::atomic<uint32_t> counter{0};
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (int attempt = 0; attempt < 8; ++attempt) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const int n = std::snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "%s%d.%u.%016llx",
                                wire::kAppEndNamePrefix, static_cast<int>(::getpid()),
                                counter.fetch_add(1), static_cast<unsigned long long>(rng()));
    const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
    if (sys::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0) return 0;
    if (errno != EADDRINUSE) return -errno;
  }
  return -EADDRINUSE;
}

size_t total_length(const msghdr* msg) {
  size_t n = 0;
  for (size_t i = 0; i < msg->msg_iovlen; ++i) n += msg->msg_iov[i].iov_len;
  return n;
}

}  // namespace

int EmulatedSocket::create(const std::string& daemon_path, int type,
                           std::shared_ptr<EmulatedSocket>* out) {
  const int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (base != SOCK_RAW && base != SOCK_DGRAM) return -ESOCKTNOSUPPORT;  // as netlink_create()

  const int control = connect_control(daemon_path);
  if (control < 0) {
    // Without the daemon there is no netfilter: say why once, in words, and fail like a kernel
    // that refuses the connection.
    std::fprintf(stderr, "nfbpf-shim: cannot reach nfbpfd at %s: %s\n", daemon_path.c_str(),
                 std::strerror(-control));
    return -ECONNREFUSED;
  }
  auto sock = std::make_shared<EmulatedSocket>(daemon_path, base, control);

  int sv[2];
  // The application's end gets the caller's NONBLOCK/CLOEXEC flags; ours is sent to the daemon.
  if (sys::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -errno;
  int app = sv[0];
  const int daemon_end = sv[1];
  auto fail = [&](int err) {
    sys::close(app);
    sys::close(daemon_end);
    return err;
  };
  if (!(type & SOCK_CLOEXEC)) {
    if (sys::fcntl(app, F_SETFD, 0) != 0) return fail(-errno);
  }
  if (type & SOCK_NONBLOCK) {
    if (sys::fcntl(app, F_SETFL, O_NONBLOCK) != 0) return fail(-errno);
  }
  if (int r = name_app_end(app); r < 0) return fail(r);

  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kCreate);
  h.token = sock->next_token_++;
  h.arg0 = static_cast<int32_t>(::getpid());
  const int fds[2] = {daemon_end, app};
  int r = control_send(control, h, {}, fds);
  ControlReply reply;
  if (r == 0) r = control_receive(control, h.token, reply);
  if (r == 0) r = reply.header.status;
  sys::close(daemon_end);
  if (r < 0) {
    sys::close(app);
    return r;
  }
  *out = std::move(sock);
  return app;
}

std::shared_ptr<EmulatedSocket> EmulatedSocket::adopt(const std::string& daemon_path, int type) {
  return std::make_shared<EmulatedSocket>(daemon_path, type);
}

bool EmulatedSocket::looks_emulated(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (sys::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  if (addr.sun_family != AF_UNIX) return false;
  const size_t prefix = sizeof(wire::kAppEndNamePrefix) - 1;
  if (len < offsetof(sockaddr_un, sun_path) + 1 + prefix || addr.sun_path[0] != '\0') return false;
  int type = 0;
  socklen_t tlen = sizeof(type);
  if (sys::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_SEQPACKET) {
    return false;
  }
  return std::memcmp(addr.sun_path + 1, wire::kAppEndNamePrefix, prefix) == 0;
}

EmulatedSocket::EmulatedSocket(std::string daemon_path, int type, int control_fd)
    : daemon_path_(std::move(daemon_path)), type_(type), control_(control_fd) {
  if (control_ >= 0) remember_control_identity();
}

void EmulatedSocket::remember_control_identity() {
  struct stat st{};
  if (::fstat(control_, &st) == 0) {
    control_dev_ = st.st_dev;
    control_ino_ = st.st_ino;
  }
}

bool EmulatedSocket::control_still_ours() const {
  struct stat st{};
  return ::fstat(control_, &st) == 0 && st.st_dev == control_dev_ && st.st_ino == control_ino_;
}

EmulatedSocket::~EmulatedSocket() {
  if (control_ >= 0) sys::close(control_);
}

int EmulatedSocket::release_control_fd() { return std::exchange(control_, -1); }

void EmulatedSocket::forget_lost_control() {
  std::lock_guard lock(mu_);
  control_ = -1;
}

int EmulatedSocket::ensure_control(int fd) {
  // One fstat per request: if the application closed our fd (close_range, a close-all loop) and
  // the number now names something else, writing a request there would corrupt its file.
  if (control_ >= 0 && !control_still_ours()) control_ = -1;  // not ours to close any more
  if (control_ >= 0) return 0;
  const int control = connect_control(daemon_path_);
  if (control < 0) return -ECONNRESET;  // the socket's daemon is gone: the socket is dead
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kAttach);
  h.token = next_token_++;
  h.arg0 = static_cast<int32_t>(::getpid());
  const int fds[1] = {fd};
  int r = control_send(control, h, {}, fds);
  ControlReply reply;
  if (r == 0) r = control_receive(control, h.token, reply);
  if (r == 0) r = reply.header.status;
  if (r < 0) {
    sys::close(control);
    return r;
  }
  control_ = control;
  remember_control_identity();
  return 0;
}

int EmulatedSocket::exchange(int fd, wire::Kind kind, int32_t arg0, int32_t arg1, int32_t arg2,
                             std::span<const uint8_t> payload, ControlReply* reply) {
  std::lock_guard lock(mu_);
  if (int r = ensure_control(fd); r < 0) return r;
  wire::Header h;
  h.kind = static_cast<uint16_t>(kind);
  h.token = next_token_++;
  h.arg0 = arg0;
  h.arg1 = arg1;
  h.arg2 = arg2;
  ControlReply local;
  ControlReply& out = reply ? *reply : local;
  int r = control_send(control_, h, payload);
  if (r == 0) r = control_receive(control_, h.token, out);
  if (r < 0) return r;
  return out.header.status;
}

int EmulatedSocket::bind(int fd, const sockaddr* addr, socklen_t len) {
  if (!addr && len) return -EFAULT;
  const size_t n = std::min<size_t>(len, sizeof(sockaddr_storage));
  return exchange(fd, wire::Kind::kBind, ::getpid(), 0, 0,
                  {reinterpret_cast<const uint8_t*>(addr), n}, nullptr);
}

int EmulatedSocket::connect(int fd, const sockaddr* addr, socklen_t len) {
  if (!addr && len) return -EFAULT;
  const size_t n = std::min<size_t>(len, sizeof(sockaddr_storage));
  return exchange(fd, wire::Kind::kConnect, ::getpid(), 0, 0,
                  {reinterpret_cast<const uint8_t*>(addr), n}, nullptr);
}

int EmulatedSocket::getname(int fd, sockaddr* addr, socklen_t* len, bool peer) {
  if (!len) return -EFAULT;
  ControlReply reply;
  if (int r = exchange(fd, wire::Kind::kGetName, peer ? 1 : 0, 0, 0, {}, &reply); r < 0) return r;
  const size_t n = std::min<size_t>(*len, reply.payload.size());
  if (n && !addr) return -EFAULT;
  std::memcpy(addr, reply.payload.data(), n);
  *len = static_cast<socklen_t>(reply.payload.size());
  return 0;
}

int EmulatedSocket::setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  if (level != SOL_NETLINK) return 1;
  if (!value && len) return -EFAULT;
  const size_t n = std::min<size_t>(len, 64);
  return exchange(fd, wire::Kind::kSetOpt, level, name, 0,
                  {static_cast<const uint8_t*>(value), n}, nullptr);
}

int EmulatedSocket::getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
  if (level == SOL_SOCKET) {
    int v;
    switch (name) {
      case SO_DOMAIN: v = AF_NETLINK; break;
      case SO_PROTOCOL: v = NETLINK_NETFILTER; break;
      case SO_TYPE: v = type_; break;
      default: return 1;  // buffer sizes, errors, credentials...: the native socket answers
    }
    if (!len || !value) return -EFAULT;
    const socklen_t n = std::min<socklen_t>(*len, sizeof(v));
    std::memcpy(value, &v, n);
    *len = n;
    return 0;
  }
  if (level != SOL_NETLINK) return -ENOPROTOOPT;
  if (!len) return -EFAULT;
  ControlReply reply;
  if (int r = exchange(fd, wire::Kind::kGetOpt, level, name, static_cast<int32_t>(*len), {},
                       &reply);
      r < 0) {
    return r;
  }
  const size_t n = std::min<size_t>(*len, reply.payload.size());
  if (n && !value) return -EFAULT;
  std::memcpy(value, reply.payload.data(), n);
  *len = static_cast<socklen_t>(reply.payload.size());
  return 0;
}

ssize_t EmulatedSocket::send(int fd, const msghdr* msg, int /*flags*/) {
  if (msg->msg_name && msg->msg_namelen) {
    if (msg->msg_namelen < sizeof(sockaddr_nl)) return -EINVAL;
    sockaddr_nl dst;
    std::memcpy(&dst, msg->msg_name, sizeof(dst));
    if (dst.nl_family != AF_NETLINK) return -EINVAL;
    // Only the kernel (port 0) is emulated; other user ports and groups are not reachable.
    if (dst.nl_pid != 0 || dst.nl_groups != 0) return -ECONNREFUSED;
  }
  const size_t len = total_length(msg);
  // netlink_sendmsg(): a datagram must fit the socket's send buffer (nft raises it for batches).
  int sndbuf = 0;
  socklen_t slen = sizeof(sndbuf);
  if (sys::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &slen) == 0 &&
      len > static_cast<size_t>(sndbuf) - 32) {
    return -EMSGSIZE;
  }
  std::vector<uint8_t> datagram;
  datagram.reserve(len);
  for (size_t i = 0; i < msg->msg_iovlen; ++i) {
    const auto* base = static_cast<const uint8_t*>(msg->msg_iov[i].iov_base);
    datagram.insert(datagram.end(), base, base + msg->msg_iov[i].iov_len);
  }

  std::lock_guard lock(mu_);
  if (int r = ensure_control(fd); r < 0) return r;
  const uint32_t token = next_token_++;
  size_t off = 0;
  do {
    const size_t chunk = std::min(wire::kMaxChunk, datagram.size() - off);
    wire::Header h;
    h.kind = static_cast<uint16_t>(wire::Kind::kNetlinkSend);
    h.token = token;
    h.arg0 = static_cast<int32_t>(::getpid());
    h.flags = off + chunk < datagram.size() ? wire::kMore : 0;
    if (int r = control_send(control_, h, {datagram.data() + off, chunk}); r < 0) return r;
    off += chunk;
  } while (off < datagram.size());
  // The reply comes only once every netlink answer is queued on `fd`.
  ControlReply reply;
  if (int r = control_receive(control_, token, reply); r < 0) return r;
  if (reply.header.status < 0) return reply.header.status;
  return static_cast<ssize_t>(len);
}

namespace {

// The first bytes of a received record, gathered across the reader's iovecs.
bool is_overrun_marker(const msghdr& msg, ssize_t n) {
  if (n != static_cast<ssize_t>(wire::kOverrunMarkerSize) || (msg.msg_flags & MSG_TRUNC)) return false;
  uint8_t head[wire::kOverrunMarkerSize];
  size_t have = 0;
  for (size_t i = 0; i < msg.msg_iovlen && have < sizeof(head); ++i) {
    const size_t take = std::min(msg.msg_iov[i].iov_len, sizeof(head) - have);
    std::memcpy(head + have, msg.msg_iov[i].iov_base, take);
    have += take;
  }
  if (have < sizeof(head)) return false;
  nlmsghdr nlh;
  std::memcpy(&nlh, head, sizeof(nlh));
  return nlh.nlmsg_type == NLMSG_NOOP && nlh.nlmsg_len == wire::kOverrunMarkerSize &&
         std::memcmp(head + sizeof(nlh), wire::kOverrunMarkerMagic,
                     sizeof(wire::kOverrunMarkerMagic)) == 0;
}

}  // namespace

ssize_t EmulatedSocket::recv(int fd, msghdr* msg, int flags) {
  msghdr native = *msg;
  native.msg_name = nullptr;  // the daemon's unix address means nothing to a netlink client
  native.msg_namelen = 0;
  ssize_t n = sys::recvmsg(fd, &native, flags);
  if (n < 0) return -errno;
  msg->msg_flags = native.msg_flags;
  msg->msg_controllen = native.msg_controllen;
  if (is_overrun_marker(native, n)) {
    // A listener that lost notifications: ENOBUFS once, as the kernel's sk_err. A peek must not
    // leave the marker behind to be reported twice.
    if (flags & MSG_PEEK) {
      char scratch[wire::kOverrunMarkerSize];
      iovec iov{scratch, sizeof(scratch)};
      msghdr drop{};
      drop.msg_iov = &iov;
      drop.msg_iovlen = 1;
      (void)sys::recvmsg(fd, &drop, MSG_DONTWAIT);
    }
    return -ENOBUFS;
  }
  if (n == 0 && total_length(msg) > 0) {
    // nfbpfd never sends empty records: this is its end closing. libmnl would take 0 for a
    // clean end of data, so report what a broken kernel connection would.
    return -ECONNRESET;
  }
  if (msg->msg_name) {
    sockaddr_nl from{};
    from.nl_family = AF_NETLINK;  // from the kernel: port 0, no group recorded
    std::memcpy(msg->msg_name, &from, std::min<size_t>(msg->msg_namelen, sizeof(from)));
    msg->msg_namelen = sizeof(from);
  }
  return n;
}

}  // namespace nfbpf::shim
