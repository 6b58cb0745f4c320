#include "nfnl-server/daemon/socket_registry.h"

#include "common/log.h"

namespace nfbpf::nfnl::daemon {

void SocketRegistry::add(std::shared_ptr<NetlinkSocket> socket) {
  const ino_t key = socket->app_inode();
  sockets_[key] = std::move(socket);
}

std::shared_ptr<NetlinkSocket> SocketRegistry::find(ino_t app_inode) const {
  auto it = sockets_.find(app_inode);
  return it == sockets_.end() ? nullptr : it->second;
}

void SocketRegistry::remove(NetlinkSocket& socket) {
  if (socket.bound()) ports_.release(socket.portid());
  auto it = sockets_.find(socket.app_inode());
  if (it != sockets_.end() && it->second.get() == &socket) sockets_.erase(it);
}

void SocketRegistry::close_all() {
  for (auto& [ino, s] : sockets_) s->close();
  sockets_.clear();
}

void SocketRegistry::publish(uint32_t group, Message msg, uint32_t exclude_portid) {
  if (batching_) {
    pending_.push_back({group, std::move(msg), exclude_portid});
    return;
  }
  std::vector<Notification> one;
  one.push_back({group, std::move(msg), exclude_portid});
  deliver(one);
}

void SocketRegistry::begin_batch() { batching_ = true; }

void SocketRegistry::end_batch() {
  batching_ = false;
  std::vector<Notification> notes = std::move(pending_);
  pending_.clear();
  if (!notes.empty()) deliver(notes);
}

void SocketRegistry::deliver(const std::vector<Notification>& notes) {
  size_t receivers = 0;
  for (auto& [ino, s] : sockets_) {
    if (s->closed()) continue;
    std::vector<Message> mine;
    for (const Notification& n : notes) {
      if (!s->in_group(n.group)) continue;
      if (n.exclude_portid != 0 && s->portid() == n.exclude_portid) continue;
      mine.push_back(n.msg);
    }
    if (mine.empty()) continue;
    s->deliver_notification(pack_records(mine));
    ++receivers;
  }
  log::debug("multicast: {} notifications to {} sockets", notes.size(), receivers);
}

}  // namespace nfbpf::nfnl::daemon
