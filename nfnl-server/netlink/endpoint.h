#pragma once
// The seam between the transport (daemon sockets, shim) and the protocol logic (nfnetlink
// subsystems). The transport knows nothing about nf_tables; the protocol logic knows nothing
// about sockets. One Endpoint per client socket, one NetlinkProtocol per daemon.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace nfbpf::nfnl {

// One complete netlink message (nlmsghdr + payload, nlmsg_len == size(), NLMSG_ALIGNed).
using Message = std::vector<uint8_t>;

// Who sent a request, as the kernel would know it.
struct Peer {
  uint32_t portid = 0;         // the netlink port id the client's socket was given
  pid_t pid = 0;               // SO_PEERCRED pid (NFTA_GEN_PROC_PID reports it)
  std::string comm;            // process name (NFTA_GEN_PROC_NAME)
  bool cap_net_admin = false;  // checked against the peer's credentials at connect time
  bool ext_ack = false;        // the client enabled NETLINK_EXT_ACK
  bool cap_ack = false;        // the client enabled NETLINK_CAP_ACK
};

// Where notifications go: every socket subscribed to `group` (NFNLGRP_*) except, as in the kernel
// for NLM_F_ECHO, the originator when it already gets the echo.
class Multicast {
 public:
  virtual ~Multicast() = default;
  virtual void publish(uint32_t group, Message msg, uint32_t exclude_portid) = 0;
};

// The protocol side. handle() receives exactly what the client passed to one sendmsg/sendto
// (possibly several netlink messages, e.g. a BATCH_BEGIN..BATCH_END batch) and returns every
// reply, in order. The transport packs replies into records the way the kernel would (NLMSG_DONE
// and acks in records of their own) and guarantees they are all readable before the client's
// send returns. handle() must never throw; malformed input yields the kernel's error message.
class NetlinkProtocol {
 public:
  virtual ~NetlinkProtocol() = default;
  virtual std::vector<Message> handle(const Peer& peer, std::span<const uint8_t> datagram,
                                      Multicast& multicast) = 0;
  // NETLINK_URELEASE: the client socket bound to `portid` is gone (every application reference
  // closed). nf_tables drops the tables that socket owns (NFT_TABLE_F_OWNER), as the kernel's
  // nft_rcv_nl_event() does: no notification, no new generation.
  virtual void released(uint32_t portid) { (void)portid; }
};

// Wiring (note from s1, transport): nfbpfd's main() calls make_protocol() once and hands the
// result to the daemon (nfbpf::nfnl::daemon::Server takes a NetlinkProtocol&). Exactly one library
// linked into nfbpfd defines make_protocol(): the CMake target `nfbpf_protocol`. If no such target
// exists when nfnl-server/daemon/ is configured, the daemon builds a placeholder that answers every
// request with EOPNOTSUPP. s2: define add_library(nfbpf_protocol ...) (with make_protocol()) in
// nfnl-server/nftables/CMakeLists.txt; nfnl-server/CMakeLists.txt adds nftables/ and store/
// before daemon/. Transport facts you can rely on (so do not repeat them):
//  - the transport runs nfnetlink_rcv()'s checks before handle(): a datagram whose first header is
//    short/overlong is dropped silently, and a peer lacking CAP_NET_ADMIN (opener or sender, as
//    netlink_net_capable) gets NLMSG_ERROR -EPERM for the first message; handle() is not called.
//  - peer.portid is already bound (autobound like the kernel) when handle() runs.
//  - notifications publish()ed during one handle() call are delivered after it returns and
//    before its replies, packed per socket into records of <= 3776 bytes (nft_commit_notify);
//    the transport fills no pid. exclude_portid 0 excludes nobody.
//  - replies must carry nlmsg_pid = peer.portid and zeroed padding; handle() may return nothing.
std::unique_ptr<NetlinkProtocol> make_protocol();

}  // namespace nfbpf::nfnl
