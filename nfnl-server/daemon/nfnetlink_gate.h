#pragma once
// The checks nfnetlink_rcv() makes before any subsystem sees a datagram, so every protocol
// implementation gets them for free:
//  - the first message's header must be complete and fit the datagram, or the datagram is dropped
//    without an answer;
//  - the sender needs CAP_NET_ADMIN (netlink_net_capable: both the socket's opener and the current
//    sender), or the first message is answered with NLMSG_ERROR -EPERM and the rest is ignored.
// GET requests are no exception: nfnetlink checks before looking at the message type.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::nfnl::daemon {

// nullopt: pass the datagram to the protocol. Otherwise: the complete answer (possibly empty).
std::optional<std::vector<Message>> nfnetlink_gate(const Peer& peer,
                                                   std::span<const uint8_t> datagram);

// netlink_ack() without extended-ack TLVs: NLMSG_ERROR carrying `err` (negative errno) and the
// request's header, plus its payload unless the error is 0 or the socket set NETLINK_CAP_ACK.
Message build_plain_ack(const Peer& peer, std::span<const uint8_t> request_msg, int err);

}  // namespace nfbpf::nfnl::daemon
