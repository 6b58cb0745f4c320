// libnfbpf-shim.so: LD_PRELOAD interposers that route NETLINK_NETFILTER sockets to nfbpfd.
//
// Every other socket, and every call on an fd that is not an emulated socket, goes to the next
// definition (libc) untouched. Emulated sockets are real unix fds, so calls the shim does not
// interpose (poll, select, epoll, fcntl(F_SETFL), ioctl(FIONREAD), ...) work on them natively.

#undef _FORTIFY_SOURCE  // the fortified inline read()/recv() would clash with the interposers

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <new>

#include "nfnl-server/shim/control_channel.h"
#include "nfnl-server/shim/emulated_socket.h"
#include "nfnl-server/shim/socket_table.h"
#include "nfnl-server/sockopt/shim_client.h"

using nfbpf::shim::EmulatedSocket;
using nfbpf::shim::SocketTable;

namespace {

// The next definition of a libc function, looked up once.
#define NEXT(name)                                                                   \
  ([]() {                                                                            \
    static auto fn = reinterpret_cast<decltype(&::name)>(::dlsym(RTLD_NEXT, #name)); \
    return fn;                                                                       \
  }())

// Our internal convention (-errno) to the C one (-1 and errno).
template <typename T>
T c_result(T r) {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

// Runs `body` on the emulated socket behind `fd`; C++ exceptions never reach C callers.
template <typename Body>
auto with_socket(const std::shared_ptr<EmulatedSocket>& sock, Body body) -> decltype(body(*sock)) {
  try {
    return body(*sock);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
  }
}

std::shared_ptr<EmulatedSocket> emulated(int fd) { return SocketTable::instance().find(fd); }

// Runs `body` (returning >= 0 or -errno) without letting C++ exceptions reach C callers.
template <typename Body>
int guarded(Body body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
  }
}

// fd `to` now names whatever `from` names (dup family).
void track_dup(int from, int to) {
  if (to < 0 || from == to) return;
  auto& table = SocketTable::instance();
  table.erase(to);  // dup2/dup3 closed whatever `to` was
  if (auto sock = table.find(from)) table.insert(to, std::move(sock));
}

ssize_t send_buffer(EmulatedSocket& s, int fd, const void* buf, size_t len, int flags,
                    const sockaddr* to, socklen_t tolen) {
  iovec iov{const_cast<void*>(buf), len};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to);
  msg.msg_namelen = tolen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  return s.send(fd, &msg, flags);
}

ssize_t recv_buffer(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
  iovec iov{buf, len};
  msghdr msg{};
  msg.msg_name = from;
  msg.msg_namelen = fromlen ? *fromlen : 0;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n = EmulatedSocket::recv(fd, &msg, flags);
  if (n >= 0 && from && fromlen) *fromlen = msg.msg_namelen;
  return n;
}

// Sockets inherited through exec: the previous image's shim state is gone, so recognise them by
// their abstract name; the control connection is re-established on first use.
void adopt_inherited_sockets() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  const int skip = ::dirfd(dir);
  const std::string path = nfbpf::shim::daemon_socket_path();
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end || fd == skip) continue;
    struct stat st{};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (!EmulatedSocket::looks_emulated(static_cast<int>(fd))) continue;
    SocketTable::instance().insert(static_cast<int>(fd), EmulatedSocket::adopt(path, SOCK_RAW));
  }
  ::closedir(dir);
}

__attribute__((constructor)) void shim_init() {
  ::pthread_atfork([] { SocketTable::instance().before_fork(); },
                   [] { SocketTable::instance().after_fork_parent(); },
                   [] { SocketTable::instance().after_fork_child(); });
  adopt_inherited_sockets();
}

}  // namespace

extern "C" {

int socket(int domain, int type, int protocol) noexcept {
  if (domain != AF_NETLINK || protocol != NETLINK_NETFILTER) {
    return NEXT(socket)(domain, type, protocol);
  }
  try {
    std::shared_ptr<EmulatedSocket> sock;
    const int fd = EmulatedSocket::create(nfbpf::shim::daemon_socket_path(), type, &sock);
    if (fd < 0) return c_result(fd);
    SocketTable::instance().insert(fd, std::move(sock));
    return fd;
  } catch (...) {
    errno = ENOMEM;
    return -1;
  }
}

int bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
  auto s = emulated(fd);
  if (!s) return NEXT(bind)(fd, addr, len);
  return c_result(with_socket(s, [&](EmulatedSocket& e) { return e.bind(fd, addr, len); }));
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  auto s = emulated(fd);
  if (!s) return NEXT(connect)(fd, addr, len);
  return c_result(with_socket(s, [&](EmulatedSocket& e) { return e.connect(fd, addr, len); }));
}

int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept {
  auto s = emulated(fd);
  if (!s) return NEXT(getsockname)(fd, addr, len);
  return c_result(with_socket(s, [&](EmulatedSocket& e) { return e.getname(fd, addr, len, false); }));
}

int getpeername(int fd, sockaddr* addr, socklen_t* len) noexcept {
  auto s = emulated(fd);
  if (!s) return NEXT(getpeername)(fd, addr, len);
  return c_result(with_socket(s, [&](EmulatedSocket& e) { return e.getname(fd, addr, len, true); }));
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept {
  auto s = emulated(fd);
  if (s) {
    const int r =
        with_socket(s, [&](EmulatedSocket& e) { return e.setsockopt(fd, level, name, value, len); });
    if (r != 1) return c_result(r);
    if (level != SOL_SOCKET) return c_result(-ENOPROTOOPT);
  } else if (const int family = nfbpf::shim::xt_sockopt_family(fd, level, name, true)) {
    // iptables-legacy's IPT_SO_SET_* on a raw socket: nfbpfd keeps the tables.
    return c_result(guarded([&] { return nfbpf::shim::ipt_setsockopt(family, name, value, len); }));
  }
  return NEXT(setsockopt)(fd, level, name, value, len);
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept {
  auto s = emulated(fd);
  if (s) {
    const int r =
        with_socket(s, [&](EmulatedSocket& e) { return e.getsockopt(fd, level, name, value, len); });
    if (r != 1) return c_result(r);
  } else if (const int family = nfbpf::shim::xt_sockopt_family(fd, level, name, false)) {
    return c_result(guarded([&] { return nfbpf::shim::ipt_getsockopt(family, name, value, len); }));
  }
  return NEXT(getsockopt)(fd, level, name, value, len);
}

int shutdown(int fd, int how) noexcept {
  if (emulated(fd)) return c_result(-EOPNOTSUPP);  // netlink has no shutdown
  return NEXT(shutdown)(fd, how);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  auto s = emulated(fd);
  if (!s) return NEXT(sendmsg)(fd, msg, flags);
  return c_result(with_socket(s, [&](EmulatedSocket& e) { return e.send(fd, msg, flags); }));
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to,
               socklen_t tolen) {
  auto s = emulated(fd);
  if (!s) return NEXT(sendto)(fd, buf, len, flags, to, tolen);
  return c_result(with_socket(
      s, [&](EmulatedSocket& e) { return send_buffer(e, fd, buf, len, flags, to, tolen); }));
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  auto s = emulated(fd);
  if (!s) return NEXT(send)(fd, buf, len, flags);
  return c_result(with_socket(
      s, [&](EmulatedSocket& e) { return send_buffer(e, fd, buf, len, flags, nullptr, 0); }));
}

ssize_t write(int fd, const void* buf, size_t len) {
  auto s = emulated(fd);
  if (!s) return NEXT(write)(fd, buf, len);
  return c_result(with_socket(
      s, [&](EmulatedSocket& e) { return send_buffer(e, fd, buf, len, 0, nullptr, 0); }));
}

ssize_t writev(int fd, const iovec* iov, int count) {
  auto s = emulated(fd);
  if (!s) return NEXT(writev)(fd, iov, count);
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(count < 0 ? 0 : count);
  return c_result(with_socket(s, [&](EmulatedSocket& e) { return e.send(fd, &msg, 0); }));
}

// sendmmsg(2) on an emulated socket: one netlink datagram per entry, as the kernel's
// __sys_sendmmsg loops over ___sys_sendmsg. An error on the first entry is the call's error;
// a later one ends the call with the count sent so far (the kernel keeps that error for the
// socket, which netlink never reports, so it is dropped here too).
int sendmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags) {
  auto s = emulated(fd);
  if (!s) return NEXT(sendmmsg)(fd, vec, vlen, flags);
  if (vlen > UIO_MAXIOV) vlen = UIO_MAXIOV;  // the kernel's cap
  unsigned int sent = 0;
  for (; sent < vlen; ++sent) {
    const ssize_t n = with_socket(s, [&](EmulatedSocket& e) { return e.send(fd, &vec[sent].msg_hdr, flags); });
    if (n < 0) {
      if (sent == 0) return c_result(static_cast<int>(n));
      break;
    }
    vec[sent].msg_len = static_cast<unsigned int>(n);
  }
  return static_cast<int>(sent);
}

// recvmmsg(2): MSG_WAITFORONE makes every datagram after the first non-blocking; the timeout is
// checked after each datagram, as the kernel does (it never interrupts a blocking receive).
int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags, timespec* timeout) {
  if (!emulated(fd)) return NEXT(recvmmsg)(fd, vec, vlen, flags, timeout);
  if (vlen > UIO_MAXIOV) vlen = UIO_MAXIOV;
  timespec deadline{};
  if (timeout) {
    ::clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout->tv_sec;
    deadline.tv_nsec += timeout->tv_nsec;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  unsigned int got = 0;
  int entry_flags = flags & ~MSG_WAITFORONE;
  while (got < vlen) {
    const ssize_t n = EmulatedSocket::recv(fd, &vec[got].msg_hdr, entry_flags);
    if (n < 0) {
      if (got == 0) return c_result(static_cast<int>(n));
      break;  // EAGAIN after MSG_WAITFORONE, or an error the next call reports again
    }
    vec[got++].msg_len = static_cast<unsigned int>(n);
    if (flags & MSG_WAITFORONE) entry_flags |= MSG_DONTWAIT;
    if (timeout) {
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > deadline.tv_sec ||
          (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
        break;
      }
    }
  }
  if (timeout) {  // the kernel writes back the time left
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    long long left = (deadline.tv_sec - now.tv_sec) * 1000000000LL + (deadline.tv_nsec - now.tv_nsec);
    if (left < 0) left = 0;
    timeout->tv_sec = left / 1000000000LL;
    timeout->tv_nsec = left % 1000000000LL;
  }
  return static_cast<int>(got);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if (!emulated(fd)) return NEXT(recvmsg)(fd, msg, flags);
  return c_result(EmulatedSocket::recv(fd, msg, flags));
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
  if (!emulated(fd)) return NEXT(recvfrom)(fd, buf, len, flags, from, fromlen);
  return c_result(recv_buffer(fd, buf, len, flags, from, fromlen));
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  if (!emulated(fd)) return NEXT(recv)(fd, buf, len, flags);
  return c_result(recv_buffer(fd, buf, len, flags, nullptr, nullptr));
}

ssize_t read(int fd, void* buf, size_t len) {
  if (!emulated(fd)) return NEXT(read)(fd, buf, len);
  return c_result(recv_buffer(fd, buf, len, 0, nullptr, nullptr));
}

ssize_t readv(int fd, const iovec* iov, int count) {
  if (!emulated(fd)) return NEXT(readv)(fd, iov, count);
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(count < 0 ? 0 : count);
  return c_result(EmulatedSocket::recv(fd, &msg, 0));
}

// Fortified variants (_FORTIFY_SOURCE builds call these instead of read/recv/recvfrom).
ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags, sockaddr* from,
                       socklen_t* fromlen);

ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen) {
  if (!emulated(fd)) return NEXT(__read_chk)(fd, buf, len, buflen);
  if (len > buflen) std::abort();  // what glibc's __chk_fail does, minus the message
  return c_result(recv_buffer(fd, buf, len, 0, nullptr, nullptr));
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
  if (!emulated(fd)) return NEXT(__recv_chk)(fd, buf, len, buflen, flags);
  if (len > buflen) std::abort();
  return c_result(recv_buffer(fd, buf, len, flags, nullptr, nullptr));
}

ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags, sockaddr* from,
                       socklen_t* fromlen) {
  if (!emulated(fd)) return NEXT(__recvfrom_chk)(fd, buf, len, buflen, flags, from, fromlen);
  if (len > buflen) std::abort();
  return c_result(recv_buffer(fd, buf, len, flags, from, fromlen));
}

// iptables-legacy-save lists the tables to dump from /proc/net/ip{,6}_tables_names; with
// nfbpfd keeping the tables, that list is the daemon's.
FILE* fopen(const char* path, const char* mode) {
  if (const int family = nfbpf::shim::xt_proc_names_family(path)) {
    if (FILE* f = nfbpf::shim::open_xt_proc_names(family)) return f;
  }
  return NEXT(fopen)(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  if (const int family = nfbpf::shim::xt_proc_names_family(path)) {
    if (FILE* f = nfbpf::shim::open_xt_proc_names(family)) return f;
  }
  return NEXT(fopen64)(path, mode);
}

int close(int fd) {
  auto& table = SocketTable::instance();
  if (!table.erase(fd)) table.forget_control_fd(fd);
  return NEXT(close)(fd);
}

int dup(int fd) noexcept {
  const int r = NEXT(dup)(fd);
  track_dup(fd, r);
  return r;
}

int dup2(int fd, int to) noexcept {
  if (fd != to) SocketTable::instance().forget_control_fd(to);
  const int r = NEXT(dup2)(fd, to);
  track_dup(fd, r);
  return r;
}

int dup3(int fd, int to, int flags) noexcept {
  if (fd != to) SocketTable::instance().forget_control_fd(to);
  const int r = NEXT(dup3)(fd, to, flags);
  track_dup(fd, r);
  return r;
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);  // every fcntl argument fits a pointer-sized register
  va_end(ap);
  const int r = NEXT(fcntl)(fd, cmd, arg);
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) track_dup(fd, r);
  return r;
}

int fcntl64(int fd, int cmd, ...);
int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  const int r = NEXT(fcntl64)(fd, cmd, arg);
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) track_dup(fd, r);
  return r;
}

}  // extern "C"
