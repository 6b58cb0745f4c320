#pragma once
// The shim's own socket I/O, issued as raw system calls. Inside libnfbpf-shim.so the libc names
// (socket, sendmsg, close, ...) resolve to the shim's interposers, so calling them from the shim
// would recurse; syscall(2) goes straight to the kernel. Each returns -1 and sets errno on failure.

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace nfbpf::shim::sys {

inline int socket(int domain, int type, int protocol) {
  return static_cast<int>(::syscall(SYS_socket, domain, type, protocol));
}
inline int socketpair(int domain, int type, int protocol, int sv[2]) {
  return static_cast<int>(::syscall(SYS_socketpair, domain, type, protocol, sv));
}
inline int connect(int fd, const sockaddr* addr, socklen_t len) {
  return static_cast<int>(::syscall(SYS_connect, fd, addr, len));
}
inline int bind(int fd, const sockaddr* addr, socklen_t len) {
  return static_cast<int>(::syscall(SYS_bind, fd, addr, len));
}
inline int getsockname(int fd, sockaddr* addr, socklen_t* len) {
  return static_cast<int>(::syscall(SYS_getsockname, fd, addr, len));
}
inline int getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
  return static_cast<int>(::syscall(SYS_getsockopt, fd, level, name, val, len));
}
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  return ::syscall(SYS_sendmsg, fd, msg, flags);
}
inline ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  return ::syscall(SYS_recvmsg, fd, msg, flags);
}
inline int fcntl(int fd, int cmd, long arg) {
  return static_cast<int>(::syscall(SYS_fcntl, fd, cmd, arg));
}
inline int close(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }

}  // namespace nfbpf::shim::sys
