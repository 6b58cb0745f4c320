#pragma once
// One sendmsg() worth of netlink messages, from the sender's socket to the protocol and back:
// autobind, nfnetlink's permission gate, NetlinkProtocol::handle(), record packing, delivery.

#include <sys/types.h>

#include <span>

#include "nfnl-server/daemon/netlink_socket.h"
#include "nfnl-server/daemon/peer_credentials.h"
#include "nfnl-server/daemon/socket_registry.h"
#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::nfnl::daemon {

struct DispatchContext {
  NetlinkProtocol& protocol;
  SocketRegistry& registry;
};

// `caller_pid` is the sender's pid in its own pid namespace (for autobind). Returns true when
// every reply is in the application's receive queue (false: some wait in the socket's outbox).
bool dispatch_datagram(DispatchContext& ctx, NetlinkSocket& socket, const PeerCredentials& sender,
                       pid_t caller_pid, std::span<const uint8_t> datagram);

}  // namespace nfbpf::nfnl::daemon
