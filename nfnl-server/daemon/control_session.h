#pragma once
// One control connection: a client process speaking for one emulated netlink socket (see
// control_wire.h). Requests are answered in order; a kNetlinkSend is answered only once its
// replies are in the application's receive queue.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/fd.h"
#include "nfnl-server/daemon/control_wire.h"
#include "nfnl-server/daemon/datagram_dispatch.h"
#include "nfnl-server/daemon/peer_credentials.h"
#include "nfnl-server/sockopt/xt_tables.h"

namespace nfbpf::nfnl::daemon {

struct SessionContext {
  DispatchContext dispatch;
  // Called when a kCreate made a new socket: the server arms its callbacks and registers it.
  std::function<std::shared_ptr<NetlinkSocket>(Fd daemon_end, ino_t app_inode,
                                               const PeerCredentials& opener, bool opener_cap)>
      create_socket;
  // iptables-legacy's x_tables (kIptSockopt); null: refused with EOPNOTSUPP.
  sockopt::IptSockopts* ipt = nullptr;
  // The backend's status as JSON (wire::Kind::kStatus); null: refused with EOPNOTSUPP.
  std::function<std::string()> status_json;
};

class ControlSession : public std::enable_shared_from_this<ControlSession> {
 public:
  ControlSession(boost::asio::io_context& io, Fd conn, PeerCredentials creds, SessionContext& ctx);
  void start();
  void close();
  bool closed() const { return closed_; }

 private:
  struct Request {
    wire::Header header;
    std::vector<uint8_t> payload;
    std::vector<Fd> fds;
  };

  void arm_read_wait();
  void drain();
  // False: the connection is unusable (protocol violation or peer gone).
  bool handle(Request& req);
  bool reply(const wire::Header& req, int status, std::span<const uint8_t> payload = {},
             uint16_t flags = 0, int32_t arg2 = 0);

  int handle_create(Request& req);
  int handle_attach(Request& req);
  bool handle_ipt_sockopt(Request& req);
  bool handle_status(const Request& req);
  // Sends `data` as one or more kReply records (all but the last flagged kMore), growing the
  // connection's buffer and waiting (bounded) for room. False: the client is gone.
  bool reply_chunked(const wire::Header& req, int status, std::span<const uint8_t> data, int32_t arg2 = 0);

  boost::asio::posix::stream_descriptor conn_;
  PeerCredentials creds_;
  SessionContext& ctx_;
  std::shared_ptr<NetlinkSocket> socket_;
  std::vector<uint8_t> pending_datagram_;  // chunks of a kNetlinkSend with kMore
  bool oversized_ = false;                 // the pending datagram passed kMaxDatagram
  std::vector<uint8_t> pending_ipt_;       // chunks of a kIptSockopt with kMore
  bool closed_ = false;
};

}  // namespace nfbpf::nfnl::daemon
