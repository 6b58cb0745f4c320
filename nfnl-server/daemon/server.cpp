#include "nfnl-server/daemon/server.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/log.h"
#include "nfnl-server/daemon/datagram_dispatch.h"

namespace nfbpf::nfnl::daemon {

namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return failf(ENAMETOOLONG, "socket path '{}' is empty or too long", path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// One daemon per socket path: an exclusive flock on "<path>.lock", held for the daemon's life.
// Holding it also proves that an existing socket file is a leftover from a crash.
Result<Fd> lock_socket_path(const std::string& path) {
  const std::string lock_path = path + ".lock";
  Fd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return fail_errno(fmt::format("open {}", lock_path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return failf(EADDRINUSE, "another nfbpfd is serving {}", path);
    return fail_errno(fmt::format("flock {}", lock_path));
  }
  return fd;
}

}  // namespace

Server::Server(boost::asio::io_context& io, ServerOptions options, NetlinkProtocol& protocol,
               PortTable ports)
    : io_(io),
      options_(std::move(options)),
      registry_(std::move(ports)),
      session_ctx_{DispatchContext{protocol, registry_},
                   [this](Fd end, ino_t ino, const PeerCredentials& opener, bool cap) {
                     return create_socket(std::move(end), ino, opener, cap);
                   },
                   &ipt_,
                   options_.status_json},
      listener_(io) {}

Server::~Server() { stop(); }

Result<void> Server::start() {
  auto addr = unix_address(options_.socket_path);
  if (!addr) return std::unexpected(addr.error());
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options_.socket_path).parent_path(), ec);
  auto lock = lock_socket_path(options_.socket_path);
  if (!lock) return std::unexpected(lock.error());

  // Bind under a temporary name and rename once listening: clients never find a socket file
  // that refuses connections, and a leftover file from a crash is replaced atomically.
  const std::string temp_path = fmt::format("{}.{}.tmp", options_.socket_path, ::getpid());
  auto temp_addr = unix_address(temp_path);
  if (!temp_addr) return std::unexpected(temp_addr.error());
  ::unlink(temp_path.c_str());
  Fd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail_errno("socket(AF_UNIX, SOCK_SEQPACKET)");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*temp_addr), sizeof(*temp_addr)) != 0) {
    return fail_errno(fmt::format("bind {}", temp_path));
  }
  auto publish = [&]() -> Result<void> {
    if (::chmod(temp_path.c_str(), options_.socket_mode) != 0) {
      return fail_errno(fmt::format("chmod {}", temp_path));
    }
    if (::listen(fd.get(), SOMAXCONN) != 0) return fail_errno("listen");
    if (::rename(temp_path.c_str(), options_.socket_path.c_str()) != 0) {
      return fail_errno(fmt::format("rename {} to {}", temp_path, options_.socket_path));
    }
    return {};
  };
  if (auto published = publish(); !published) {
    ::unlink(temp_path.c_str());
    return published;
  }
  struct stat st{};
  if (::stat(addr->sun_path, &st) == 0) socket_file_inode_ = st.st_ino;
  lock_ = std::move(*lock);
  listener_.assign(fd.release());
  log::info("listening on {}", options_.socket_path);
  arm_accept();
  return {};
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  if (listener_.is_open()) {
    listener_.close(ignored);
    // Remove the file only if it is still ours (a second daemon may have replaced it).
    struct stat st{};
    if (socket_file_inode_ && ::stat(options_.socket_path.c_str(), &st) == 0 &&
        st.st_ino == socket_file_inode_) {
      ::unlink(options_.socket_path.c_str());
    }
    lock_.reset();  // the lock file stays: removing it would race with a daemon starting now
  }
  for (auto& weak : sessions_) {
    if (auto s = weak.lock()) s->close();
  }
  sessions_.clear();
  registry_.close_all();
}

size_t Server::session_count() const {
  size_t n = 0;
  for (auto& weak : sessions_) {
    auto s = weak.lock();
    if (s && !s->closed()) ++n;
  }
  return n;
}

void Server::arm_accept() {
  if (stopped_) return;
  listener_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                         if (ec || stopped_) return;
                         accept_ready();
                       });
}

void Server::accept_ready() {
  for (;;) {
    Fd conn(::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) log::warn("accept: {}", std::strerror(errno));
      break;
    }
    auto creds = read_peer_credentials(conn.get());
    if (!creds) {
      log::warn("dropping a connection: {}", creds.error().describe());
      continue;
    }
    log::debug("control connection from pid {} ({}) uid {}", creds->pid, creds->comm, creds->uid);
    auto session = std::make_shared<ControlSession>(io_, std::move(conn), std::move(*creds),
                                                    session_ctx_);
    session->start();
    sessions_.remove_if([](const std::weak_ptr<ControlSession>& w) { return w.expired(); });
    sessions_.push_back(session);
  }
  arm_accept();
}

std::shared_ptr<NetlinkSocket> Server::create_socket(Fd daemon_end, ino_t app_inode,
                                                     const PeerCredentials& opener,
                                                     bool opener_cap) {
  NetlinkSocket::Callbacks callbacks;
  callbacks.on_closed = [this](NetlinkSocket& s) {
    log::debug("netlink socket port {} closed", s.portid());
    if (s.bound()) session_ctx_.dispatch.protocol.released(s.portid());  // owned tables go
    registry_.remove(s);
  };
  callbacks.on_raw_datagram = [this](NetlinkSocket& s, std::span<const uint8_t> d) {
    on_raw_datagram(s, d);
  };
  auto socket = std::make_shared<NetlinkSocket>(io_, std::move(daemon_end), app_inode, opener, opener_cap,
                                                options_.reply_buffer_bytes, std::move(callbacks));
  registry_.add(socket);
  socket->start();
  return socket;
}

void Server::on_raw_datagram(NetlinkSocket& socket, std::span<const uint8_t> datagram) {
  // Written to the reply socket directly (no shim in that process): we know only who created the
  // socket pair, so that is the sender we check; there is no completion token to send.
  const PeerCredentials& creator = socket.opener();
  log::debug("port {}: {}-byte datagram written without the shim", socket.portid(),
             datagram.size());
  dispatch_datagram(session_ctx_.dispatch, socket, creator, creator.pid, datagram);
}

}  // namespace nfbpf::nfnl::daemon
