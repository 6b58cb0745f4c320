#pragma once
// One NETLINK_NETFILTER socket emulated over nfbpfd, as seen from the client process.
//
// The application holds a real unix SOCK_SEQPACKET fd (one end of a socketpair whose other end
// nfbpfd holds), so poll/select/epoll, O_NONBLOCK, SO_RCVBUF, dup and inheritance are native.
// Everything else a netlink socket does goes through this class: requests travel over a separate
// control connection and send() returns only after nfbpfd has queued every reply on the fd.
//
// Methods take the application's fd (any dup of it) and return what the replaced call returns,
// with errors as negative errno values.

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "nfnl-server/shim/control_channel.h"

namespace nfbpf::shim {

class EmulatedSocket {
 public:
  // socket(AF_NETLINK, type, NETLINK_NETFILTER): returns the application's fd or -errno.
  static int create(const std::string& daemon_path, int type, std::shared_ptr<EmulatedSocket>* out);
  // A socket inherited through exec (or re-created in a forked child): the control connection is
  // opened on first use and attaches by passing the fd to nfbpfd.
  static std::shared_ptr<EmulatedSocket> adopt(const std::string& daemon_path, int type);

  // True if `fd` is the application end of an emulated socket (its abstract name says so).
  static bool looks_emulated(int fd);

  explicit EmulatedSocket(std::string daemon_path, int type, int control_fd = -1);
  ~EmulatedSocket();
  EmulatedSocket(const EmulatedSocket&) = delete;
  EmulatedSocket& operator=(const EmulatedSocket&) = delete;

  int bind(int fd, const sockaddr* addr, socklen_t len);
  int connect(int fd, const sockaddr* addr, socklen_t len);
  int getname(int fd, sockaddr* addr, socklen_t* len, bool peer);
  int setsockopt(int fd, int level, int name, const void* value, socklen_t len);
  // Only SOL_NETLINK and the SOL_SOCKET options that reveal the socket's kind (SO_DOMAIN,
  // SO_PROTOCOL, SO_TYPE); returns 1 for "not mine, pass it through".
  int getsockopt(int fd, int level, int name, void* value, socklen_t* len);
  ssize_t send(int fd, const msghdr* msg, int flags);
  static ssize_t recv(int fd, msghdr* msg, int flags);

  // In a forked child: the control connection belongs to the parent; forget it (without
  // touching the mutex, which a parent thread may have held at fork time).
  int release_control_fd();
  int control_fd() const { return control_; }
  int type() const { return type_; }
  const std::string& daemon_path() const { return daemon_path_; }
  // The application closed our control fd by accident (e.g. a close-all-fds loop).
  void forget_lost_control();

 private:
  int ensure_control(int fd);  // caller holds mu_
  int exchange(int fd, wire::Kind kind, int32_t arg0, int32_t arg1, int32_t arg2,
               std::span<const uint8_t> payload, ControlReply* reply);

  // Remembers which socket control_ was, to notice it closed and its number reused behind our back.
  void remember_control_identity();
  bool control_still_ours() const;

  std::mutex mu_;
  std::string daemon_path_;
  int type_;
  int control_ = -1;
  dev_t control_dev_ = 0;
  ino_t control_ino_ = 0;
  uint32_t next_token_ = 1;
};

}  // namespace nfbpf::shim
