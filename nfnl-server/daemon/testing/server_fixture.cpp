#include "nfnl-server/daemon/testing/server_fixture.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <stdexcept>

namespace nfbpf::nfnl::testing {

ServerThread::ServerThread(int reply_buffer_bytes) {
  char templ[] = "/tmp/nfbpf-transport-test.XXXXXX";
  if (!::mkdtemp(templ)) throw std::runtime_error("mkdtemp failed");
  dir_ = templ;
  socket_path_ = dir_ + "/nfbpf.sock";
  daemon::ServerOptions options;
  options.socket_path = socket_path_;
  options.reply_buffer_bytes = reply_buffer_bytes;
  server_ = std::make_unique<daemon::Server>(io_, options, protocol_);
  if (auto r = server_->start(); !r) throw std::runtime_error(r.error().describe());
  thread_ = std::thread([this] { io_.run(); });
}

ServerThread::~ServerThread() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void ServerThread::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::asio::post(io_, [this] { server_->stop(); });
  thread_.join();
  server_.reset();
}

void ServerThread::run_on_daemon(std::function<void(daemon::Server&)> fn) {
  std::promise<void> done;
  boost::asio::post(io_, [&] {
    fn(*server_);
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace nfbpf::nfnl::testing
