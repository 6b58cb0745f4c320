#pragma once
// The daemon's half of one emulated NETLINK_NETFILTER socket: the kernel-side state of a netlink
// socket (port id, group memberships, per-socket flags) plus the unix end replies are written to.
//
// Replies go out with non-blocking sends. When the socket buffer is full the rest waits in an
// outbox and is written as the application drains its queue; the send buffer is enlarged with
// SO_SNDBUFFORCE at creation so that multi-megabyte dumps normally fit at once (nft reads its
// replies with a non-blocking socket and stops at the first EAGAIN).

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>

#include "common/fd.h"
#include "nfnl-server/daemon/peer_credentials.h"
#include "nfnl-server/daemon/record_packer.h"

namespace nfbpf::nfnl::daemon {

// nfnetlink's group count (NFNLGRP_MAX): valid groups are 1..kNfnlGroups.
inline constexpr uint32_t kNfnlGroups = 9;

// Per-socket netlink options (NETLINK_* at SOL_NETLINK) that are plain on/off flags.
struct NetlinkFlags {
  bool pktinfo = false;
  bool broadcast_error = false;
  bool no_enobufs = false;
  bool listen_all_nsid = false;
  bool cap_ack = false;
  bool ext_ack = false;
  bool strict_chk = false;
};

class NetlinkSocket : public std::enable_shared_from_this<NetlinkSocket> {
 public:
  struct Callbacks {
    // The application's last reference is gone (EOF on our end).
    std::function<void(NetlinkSocket&)> on_closed;
    // A datagram written straight into the application's end (a process the shim did not see,
    // e.g. one that received the fd over SCM_RIGHTS). Handled without a completion token.
    std::function<void(NetlinkSocket&, std::span<const uint8_t>)> on_raw_datagram;
  };

  NetlinkSocket(boost::asio::io_context& io, Fd daemon_end, ino_t app_inode,
                PeerCredentials opener, bool opener_cap, int reply_buffer_bytes,
                Callbacks callbacks);
  ~NetlinkSocket();

  void start();  // begin watching our end for EOF and raw datagrams
  // Reads every datagram the application wrote into the pair so far and hands each to `handle`
  // (default: the on_raw_datagram callback). Notices EOF too.
  void process_pending_input(
      const std::function<void(NetlinkSocket&, std::span<const uint8_t>)>& handle = {});
  void close();  // idempotent; drops pending output

  // Queues `records` behind anything pending and writes what fits now. True when every record
  // (including earlier pending ones) is in the application's receive queue on return.
  bool deliver(std::vector<Record> records);
  // Notifications: like the kernel's netlink_broadcast(), a listener whose buffer is full loses
  // them (counted in overruns()) instead of making the daemon hold them.
  void deliver_notification(std::vector<Record> records);
  uint64_t overruns() const { return overruns_; }

  ino_t app_inode() const { return app_inode_; }
  // Every application reference is closed (EOF may not have been processed yet).
  bool peer_gone() const;
  bool closed() const { return closed_; }
  bool opener_cap() const { return opener_cap_; }
  const PeerCredentials& opener() const { return opener_; }

  bool bound() const { return portid_ != 0; }
  uint32_t portid() const { return portid_; }
  void set_portid(uint32_t p) { portid_ = p; }

  // Bit (g-1) stands for group g, as the kernel's nlk->groups.
  uint64_t groups() const { return groups_; }
  void set_groups(uint64_t g) { groups_ = g; }
  bool in_group(uint32_t group) const {
    return group >= 1 && group <= 64 && ((groups_ >> (group - 1)) & 1);
  }

  uint32_t dst_portid = 0;  // connect() target, reported by getpeername()
  uint32_t dst_group = 0;
  NetlinkFlags flags;

 private:
  void flush();
  void arm_write_wait();
  void arm_read_wait();
  void drain_input();

  boost::asio::posix::stream_descriptor end_;
  int fd_ = -1;  // end_'s descriptor, for const queries
  ino_t app_inode_;
  PeerCredentials opener_;
  bool opener_cap_;
  Callbacks callbacks_;
  uint32_t portid_ = 0;
  uint64_t groups_ = 0;
  std::deque<Record> outbox_;
  size_t outbox_bytes_ = 0;
  uint64_t overruns_ = 0;
  bool overrun_marker_queued_ = false;  // an ENOBUFS marker waits in outbox_
  bool write_wait_armed_ = false;
  bool closed_ = false;
};

}  // namespace nfbpf::nfnl::daemon
