#pragma once
// Which of the process's fds are emulated netlink sockets. Several fds (dup, dup2, fcntl) may
// share one EmulatedSocket, as they share one kernel socket. Lookups are lock-free while the
// process has no emulated socket at all, so unrelated I/O pays one atomic load.

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "nfnl-server/shim/emulated_socket.h"

namespace nfbpf::shim {

class SocketTable {
 public:
  static SocketTable& instance();

  std::shared_ptr<EmulatedSocket> find(int fd);
  void insert(int fd, std::shared_ptr<EmulatedSocket> sock);
  // The fd is closed or reused: forget it. Returns the socket it named, if any.
  std::shared_ptr<EmulatedSocket> erase(int fd);
  // `fd` is (was) the control connection of some socket: that socket must reconnect.
  bool forget_control_fd(int fd);

  // pthread_atfork handlers: the child gets fresh objects with no control connection (the
  // parent's stay with the parent) and fresh mutexes.
  void before_fork();
  void after_fork_parent();
  void after_fork_child();

 private:
  std::mutex mu_;
  std::unordered_map<int, std::shared_ptr<EmulatedSocket>> fds_;
  std::atomic<size_t> count_{0};
};

}  // namespace nfbpf::shim
