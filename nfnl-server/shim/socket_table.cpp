#include "nfnl-server/shim/socket_table.h"

#include <map>

#include "nfnl-server/shim/sys.h"

namespace nfbpf::shim {

SocketTable& SocketTable::instance() {
  // Never destroyed: interposers can run during and after static destruction.
  static SocketTable* table = new SocketTable;
  return *table;
}

std::shared_ptr<EmulatedSocket> SocketTable::find(int fd) {
  if (fd < 0 || count_.load(std::memory_order_acquire) == 0) return nullptr;
  std::lock_guard lock(mu_);
  auto it = fds_.find(fd);
  return it == fds_.end() ? nullptr : it->second;
}

void SocketTable::insert(int fd, std::shared_ptr<EmulatedSocket> sock) {
  std::lock_guard lock(mu_);
  fds_[fd] = std::move(sock);
  count_.store(fds_.size(), std::memory_order_release);
}

std::shared_ptr<EmulatedSocket> SocketTable::erase(int fd) {
  if (count_.load(std::memory_order_acquire) == 0) return nullptr;
  std::lock_guard lock(mu_);
  auto it = fds_.find(fd);
  if (it == fds_.end()) return nullptr;
  auto sock = std::move(it->second);
  fds_.erase(it);
  count_.store(fds_.size(), std::memory_order_release);
  return sock;
}

bool SocketTable::forget_control_fd(int fd) {
  if (fd < 0 || count_.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard lock(mu_);
  for (auto& [app_fd, sock] : fds_) {
    if (sock->control_fd() == fd) {
      sock->forget_lost_control();
      return true;
    }
  }
  return false;
}

void SocketTable::before_fork() { mu_.lock(); }

void SocketTable::after_fork_parent() { mu_.unlock(); }

void SocketTable::after_fork_child() {
  // mu_ is still held by before_fork() in this thread, the only one the child has.
  std::map<EmulatedSocket*, std::shared_ptr<EmulatedSocket>> fresh;
  for (auto& [fd, old] : fds_) {
    auto& replacement = fresh[old.get()];
    if (!replacement) {
      const int control = old->release_control_fd();
      if (control >= 0) sys::close(control);  // the child's copy; the parent keeps its own
      replacement = EmulatedSocket::adopt(old->daemon_path(), old->type());
      // The old object's mutex may be held by a parent thread that does not exist here:
      // never touch or destroy it.
      new std::shared_ptr<EmulatedSocket>(old);
    }
    old = replacement;
  }
  mu_.unlock();
}

}  // namespace nfbpf::shim
