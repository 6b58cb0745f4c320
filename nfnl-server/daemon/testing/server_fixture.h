#pragma once
// Runs a daemon::Server with a FakeProtocol on its own thread, listening in a private temporary
// directory (never /run/nfbpf), for tests that act as clients from the test thread or children.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>

#include "nfnl-server/daemon/server.h"
#include "nfnl-server/daemon/testing/fake_protocol.h"

namespace nfbpf::nfnl::testing {

class ServerThread {
 public:
  // reply_buffer_bytes: SO_SNDBUFFORCE for reply sockets (small values exercise the outbox).
  explicit ServerThread(int reply_buffer_bytes = 64 << 20);
  ~ServerThread();

  const std::string& socket_path() const { return socket_path_; }
  FakeProtocol& protocol() { return protocol_; }
  // Stops the daemon as SIGTERM would (sockets closed, socket file removed) and joins.
  void stop();
  // Runs `fn` on the daemon thread and waits for it.
  void run_on_daemon(std::function<void(daemon::Server&)> fn);

 private:
  std::string dir_;
  std::string socket_path_;
  FakeProtocol protocol_;
  boost::asio::io_context io_;
  std::unique_ptr<daemon::Server> server_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace nfbpf::nfnl::testing
