#pragma once
// Every live emulated netlink socket, found by the inode of its application end (what a process
// proves possession of when it passes the fd over SCM_RIGHTS), plus the port table and multicast
// fan-out shared by all of them.

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>

#include "nfnl-server/daemon/netlink_socket.h"
#include "nfnl-server/daemon/port_table.h"
#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::nfnl::daemon {

class SocketRegistry : public Multicast {
 public:
  explicit SocketRegistry(PortTable ports = PortTable()) : ports_(std::move(ports)) {}

  void add(std::shared_ptr<NetlinkSocket> socket);
  std::shared_ptr<NetlinkSocket> find(ino_t app_inode) const;
  // Forgets the socket and frees its port id.
  void remove(NetlinkSocket& socket);
  void close_all();
  // Visits every live socket (diagnostics, tests).
  void find_if(const std::function<void(const NetlinkSocket&)>& visit) const {
    for (auto& [ino, s] : sockets_) visit(*s);
  }
  size_t size() const { return sockets_.size(); }

  PortTable& ports() { return ports_; }

  // Multicast to every subscribed socket except `exclude_portid`. Between begin_batch() and
  // end_batch() (one datagram's handle() call) notifications are held back and then packed per
  // socket into records of up to kMaxRecordBytes, as nft_commit_notify() coalesces a commit's
  // notifications into NLMSG_GOODSIZE skbs; outside a batch each message is a record of its own.
  void publish(uint32_t group, Message msg, uint32_t exclude_portid) override;
  void begin_batch();
  void end_batch();

 private:
  struct Notification {
    uint32_t group;
    Message msg;
    uint32_t exclude_portid;
  };
  void deliver(const std::vector<Notification>& notes);

  PortTable ports_;
  bool batching_ = false;
  std::vector<Notification> pending_;
  std::map<ino_t, std::shared_ptr<NetlinkSocket>> sockets_;
};

}  // namespace nfbpf::nfnl::daemon
