#pragma once
// nfbpfd's transport: the listening unix socket, control sessions and emulated netlink sockets.
// Single-threaded: everything runs on the io_context passed in. The protocol logic is injected.

#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "common/fd.h"
#include "common/result.h"
#include "nfnl-server/daemon/control_session.h"
#include "nfnl-server/daemon/socket_registry.h"
#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/sockopt/xt_tables.h"

namespace nfbpf::nfnl::daemon {

struct ServerOptions {
  std::string socket_path;
  // Anyone may connect, as anyone may open a netlink socket; permission is checked per message
  // against the peer's CAP_NET_ADMIN, so an unprivileged client gets the kernel's EPERM.
  mode_t socket_mode = 0666;
  // SO_SNDBUFFORCE on every reply socket. Memory is only used while replies wait to be read.
  int reply_buffer_bytes = 256 << 20;
  // Answers wire::Kind::kStatus (JSON text); unset: kStatus is refused with EOPNOTSUPP.
  std::function<std::string()> status_json;
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options, NetlinkProtocol& protocol,
         PortTable ports = PortTable());
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Takes "<socket>.lock" (EADDRINUSE if another daemon holds it), listens on the socket path
  // (replacing a leftover file), then accepts.
  Result<void> start();
  // Closes the listener, every session and socket and removes the socket file; the io_context
  // then runs out of work.
  void stop();

  SocketRegistry& registry() { return registry_; }
  // iptables-legacy's tables (e.g. to install the offload backend before start()).
  sockopt::IptSockopts& iptables() { return ipt_; }
  size_t session_count() const;

 private:
  void arm_accept();
  void accept_ready();
  std::shared_ptr<NetlinkSocket> create_socket(Fd daemon_end, ino_t app_inode,
                                              const PeerCredentials& opener, bool opener_cap);
  void on_raw_datagram(NetlinkSocket& socket, std::span<const uint8_t> datagram);

  boost::asio::io_context& io_;
  ServerOptions options_;
  SocketRegistry registry_;
  sockopt::IptSockopts ipt_;  // iptables-legacy's tables (before session_ctx_, which points here)
  SessionContext session_ctx_;
  Fd lock_;  // flock on "<socket>.lock" while serving
  boost::asio::posix::stream_descriptor listener_;
  ino_t socket_file_inode_ = 0;
  std::list<std::weak_ptr<ControlSession>> sessions_;
  bool stopped_ = false;
};

}  // namespace nfbpf::nfnl::daemon
