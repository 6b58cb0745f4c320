#include "nfnl-server/daemon/datagram_dispatch.h"

#include <cerrno>
#include <exception>

#include "common/log.h"
#include "nfnl-server/daemon/nfnetlink_gate.h"
#include "nfnl-server/daemon/record_packer.h"
#include "nfnl-server/daemon/socket_ops.h"

namespace nfbpf::nfnl::daemon {

bool dispatch_datagram(DispatchContext& ctx, NetlinkSocket& socket, const PeerCredentials& sender,
                       pid_t caller_pid, std::span<const uint8_t> datagram) {
  // netlink_net_capable(): the socket's opener and the sender must both hold CAP_NET_ADMIN.
  const bool capable = socket.opener_cap() && has_cap_net_admin(sender.pid);
  ensure_bound(socket, ctx.registry.ports(), Caller{caller_pid, capable});

  Peer peer;
  peer.portid = socket.portid();
  peer.pid = sender.pid;
  peer.comm = sender.comm;
  peer.cap_net_admin = capable;
  peer.ext_ack = socket.flags.ext_ack;
  peer.cap_ack = socket.flags.cap_ack;

  std::vector<Message> replies;
  if (auto gated = nfnetlink_gate(peer, datagram)) {
    replies = std::move(*gated);
  } else {
    // Notifications of this datagram go out together, before its replies (the kernel sends them
    // at commit, before the batch's acks).
    ctx.registry.begin_batch();
    try {
      replies = ctx.protocol.handle(peer, datagram, ctx.registry);
    } catch (const std::exception& e) {
      // handle() must not throw; if it does (bad_alloc), answer like a kernel out of memory.
      log::error("protocol handler threw for port {}: {}", peer.portid, e.what());
      replies = {build_plain_ack(peer, datagram, -ENOMEM)};
    }
    ctx.registry.end_batch();
  }
  log::debug("port {} ({} pid {}): {} bytes in, {} messages out", peer.portid, peer.comm, peer.pid,
             datagram.size(), replies.size());
  return socket.deliver(pack_records(replies));
}

}  // namespace nfbpf::nfnl::daemon
