// nfbpf_fake_daemon SOCKET_PATH: the transport with the FakeProtocol, for measuring the
// transport alone (e.g. the round-trip time quoted in docs/shim.md). Not installed.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>

#include "common/log.h"
#include "nfnl-server/daemon/server.h"
#include "nfnl-server/daemon/testing/fake_protocol.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    nfbpf::log::error("usage: nfbpf_fake_daemon SOCKET_PATH");
    return EXIT_FAILURE;
  }
  boost::asio::io_context io;
  nfbpf::nfnl::testing::FakeProtocol protocol;
  nfbpf::nfnl::daemon::ServerOptions options;
  options.socket_path = argv[1];
  nfbpf::nfnl::daemon::Server server(io, options, protocol);
  if (auto r = server.start(); !r) {
    nfbpf::log::error("{}", r.error().describe());
    return EXIT_FAILURE;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { server.stop(); });
  io.run();
  return EXIT_SUCCESS;
}
