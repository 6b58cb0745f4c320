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
  size_t receivers = 0;
  for (auto& [ino, s] : sockets_) {
    if (s->closed() || !s->in_group(group)) continue;
    if (exclude_portid != 0 && s->portid() == exclude_portid) continue;
    std::vector<Record> one;
    one.emplace_back(msg.begin(), msg.end());
    s->deliver(std::move(one));
    ++receivers;
  }
  log::debug("multicast group {}: {} bytes to {} sockets", group, msg.size(), receivers);
}

}  // namespace nfbpf::nfnl::daemon
