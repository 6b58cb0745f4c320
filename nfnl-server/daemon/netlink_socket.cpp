#include "nfnl-server/daemon/netlink_socket.h"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "nfnl-server/daemon/control_wire.h"

namespace nfbpf::nfnl::daemon {

namespace {

// What the daemon holds for one socket beyond its socket buffer before it drops replies.
constexpr size_t kMaxOutboxBytes = size_t{64} << 20;

void enlarge_send_buffer(int fd, int bytes) {
  // SO_SNDBUFFORCE needs CAP_NET_ADMIN; without it the kernel caps SO_SNDBUF at wmem_max and big
  // replies take the (slower, partial) outbox path.
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) == 0) return;
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) != 0) {
    log::warn("cannot enlarge a reply socket buffer: {}", std::strerror(errno));
  }
}

// A zero-length read is either EOF or an empty record; only EOF comes with a hang-up.
bool peer_hung_up(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

}  // namespace

NetlinkSocket::NetlinkSocket(boost::asio::io_context& io, Fd daemon_end, ino_t app_inode,
                             PeerCredentials opener, bool opener_cap, int reply_buffer_bytes,
                             Callbacks callbacks)
    : end_(io),
      app_inode_(app_inode),
      opener_(std::move(opener)),
      opener_cap_(opener_cap),
      callbacks_(std::move(callbacks)) {
  enlarge_send_buffer(daemon_end.get(), reply_buffer_bytes);
  fd_ = daemon_end.get();
  end_.assign(daemon_end.release());
}

NetlinkSocket::~NetlinkSocket() { close(); }

bool NetlinkSocket::peer_gone() const {
  return closed_ || peer_hung_up(fd_);
}

void NetlinkSocket::start() { arm_read_wait(); }

void NetlinkSocket::close() {
  if (closed_) return;
  closed_ = true;
  outbox_.clear();
  outbox_bytes_ = 0;
  boost::system::error_code ignored;
  end_.close(ignored);
}

bool NetlinkSocket::deliver(std::vector<Record> records) {
  if (closed_) return true;  // nobody can read them any more
  for (Record& r : records) {
    if (outbox_bytes_ + r.size() > kMaxOutboxBytes) {
      // A client that keeps asking without ever reading: refuse to hold more for it.
      log::error("port {}: {} bytes of replies wait unread; dropping more", portid_, outbox_bytes_);
      break;
    }
    outbox_bytes_ += r.size();
    outbox_.push_back(std::move(r));
  }
  flush();
  return outbox_.empty();
}

void NetlinkSocket::deliver_notification(std::vector<Record> records) {
  if (closed_) return;
  if (!outbox_.empty()) {
    // The socket buffer is already full: the kernel would drop and report ENOBUFS.
    if (overruns_++ % 1000 == 0) {
      log::warn("port {}: listener not reading; dropping notifications", portid_);
    }
    if (!flags.no_enobufs && !overrun_marker_queued_) {
      // One marker per overrun episode, as the kernel's sk_err holds one ENOBUFS until read.
      Record marker(wire::kOverrunMarkerSize, 0);
      nlmsghdr nlh{};
      nlh.nlmsg_len = static_cast<uint32_t>(wire::kOverrunMarkerSize);
      nlh.nlmsg_type = NLMSG_NOOP;
      std::memcpy(marker.data(), &nlh, sizeof(nlh));
      std::memcpy(marker.data() + sizeof(nlh), wire::kOverrunMarkerMagic,
                  sizeof(wire::kOverrunMarkerMagic));
      outbox_bytes_ += marker.size();
      outbox_.push_back(std::move(marker));
      overrun_marker_queued_ = true;
    }
    return;
  }
  deliver(std::move(records));
}

void NetlinkSocket::flush() {
  while (!closed_ && !outbox_.empty()) {
    const Record& r = outbox_.front();
    ssize_t n = ::send(end_.native_handle(), r.data(), r.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      if (r.size() == wire::kOverrunMarkerSize &&
          std::memcmp(r.data() + sizeof(nlmsghdr), wire::kOverrunMarkerMagic,
                      sizeof(wire::kOverrunMarkerMagic)) == 0) {
        overrun_marker_queued_ = false;  // the reader will see this episode's ENOBUFS
      }
      outbox_bytes_ -= r.size();
      outbox_.pop_front();
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      arm_write_wait();
      return;
    }
    if (errno == EPIPE || errno == ECONNRESET) {
      outbox_.clear();  // the application closed its end; EOF handling follows on the read side
      outbox_bytes_ = 0;
      return;
    }
    log::error("dropping a {}-byte reply record for port {}: {}", r.size(), portid_,
               std::strerror(errno));
    outbox_bytes_ -= r.size();
    outbox_.pop_front();
  }
}

void NetlinkSocket::arm_write_wait() {
  if (write_wait_armed_ || closed_) return;
  write_wait_armed_ = true;
  end_.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                  [weak = weak_from_this()](const boost::system::error_code& ec) {
                    auto self = weak.lock();
                    if (!self) return;
                    self->write_wait_armed_ = false;
                    if (!ec) self->flush();
                  });
}

void NetlinkSocket::arm_read_wait() {
  if (closed_) return;
  end_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                  [weak = weak_from_this()](const boost::system::error_code& ec) {
                    auto self = weak.lock();
                    if (!self || ec || self->closed_) return;
                    self->drain_input();
                  });
}

void NetlinkSocket::drain_input() {
  process_pending_input();
  if (!closed_) arm_read_wait();
}

void NetlinkSocket::process_pending_input(
    const std::function<void(NetlinkSocket&, std::span<const uint8_t>)>& handle) {
  auto self = shared_from_this();  // callbacks may drop the last other reference
  const auto& on_datagram = handle ? handle : callbacks_.on_raw_datagram;
  const int fd = fd_;
  for (;;) {
    // Peek at the size first: a raw datagram may be larger than any fixed buffer.
    char probe;
    ssize_t size = ::recv(fd, &probe, 1, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
    if (size < 0 && errno == EINTR) continue;
    if (size < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (size == 0 && !peer_hung_up(fd)) {
      ::recv(fd, &probe, 1, MSG_DONTWAIT);  // an empty record: netlink would ignore it too
      continue;
    }
    if (size <= 0) {
      // EOF: every application reference to this socket is closed.
      close();
      if (callbacks_.on_closed) callbacks_.on_closed(*this);
      return;
    }
    std::vector<uint8_t> datagram(static_cast<size_t>(size));
    ssize_t n = ::recv(fd, datagram.data(), datagram.size(), MSG_DONTWAIT);
    if (n < 0) continue;
    datagram.resize(static_cast<size_t>(n));
    if (on_datagram) on_datagram(*this, datagram);
    if (closed_) return;
  }
}

}  // namespace nfbpf::nfnl::daemon
