#include "nfnl-server/daemon/control_session.h"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <utility>

#include "common/log.h"
#include "nfnl-server/daemon/socket_ops.h"
#include "nfnl-server/sockopt/ipt_service.h"

namespace nfbpf::nfnl::daemon {

namespace {

constexpr size_t kMaxFds = 2;
// SO_SNDBUFFORCE caps a socket buffer at INT_MAX/2 in theory; 10 000 nft rules are ~4.6 MB.
constexpr size_t kMaxDatagram = size_t{256} << 20;

// Reads one record with any SCM_RIGHTS fds. 0: nothing to read now; -1: EOF or error.
int receive_record(int fd, std::vector<uint8_t>& buf, std::vector<Fd>& fds) {
  buf.resize(wire::kMaxRecord);
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof(cbuf);
  ssize_t n;
  do {
    n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(received);
    }
  }
  if (n == 0) return -1;
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    log::warn("control record truncated; closing the connection");
    return -1;
  }
  buf.resize(static_cast<size_t>(n));
  return 1;
}

// kCreate hands us both ends of the client's socketpair. Prove they are one pair (and of the
// right kind) before trusting the application end's inode as the socket's identity: a record
// written into our end must come out of theirs.
Result<void> verify_socket_pair(const Fd& ours, const Fd& theirs) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(ours.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
    return fail(EINVAL, "the daemon end is not a SOCK_SEQPACKET socket");
  }
  uint64_t nonce = (static_cast<uint64_t>(::getpid()) << 32) ^ reinterpret_cast<uintptr_t>(&ours) ^
                   static_cast<uint64_t>(::time(nullptr));
  if (::send(ours.get(), &nonce, sizeof(nonce), MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(nonce)) {
    return fail_errno("probe send");
  }
  uint64_t echoed = 0;
  if (::recv(theirs.get(), &echoed, sizeof(echoed), MSG_DONTWAIT) != sizeof(echoed) ||
      echoed != nonce) {
    return fail(EINVAL, "the passed fds are not the two ends of one socket pair");
  }
  return {};
}

Result<ino_t> socket_inode(const Fd& fd) {
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail_errno("fstat");
  if (!S_ISSOCK(st.st_mode)) return fail(ENOTSOCK, "passed fd is not a socket");
  return st.st_ino;
}

}  // namespace

ControlSession::ControlSession(boost::asio::io_context& io, Fd conn, PeerCredentials creds,
                               SessionContext& ctx)
    : conn_(io, conn.release()), creds_(std::move(creds)), ctx_(ctx) {}

void ControlSession::start() { arm_read_wait(); }

void ControlSession::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  conn_.close(ignored);
  socket_.reset();
}

void ControlSession::arm_read_wait() {
  if (closed_) return;
  conn_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [self = shared_from_this()](const boost::system::error_code& ec) {
                     if (ec || self->closed_) return;
                     self->drain();
                   });
}

void ControlSession::drain() {
  for (;;) {
    Request req;
    std::vector<uint8_t> buf;
    int got = receive_record(conn_.native_handle(), buf, req.fds);
    if (got == 0) break;
    if (got < 0 || buf.size() < sizeof(wire::Header)) {
      close();
      return;
    }
    std::memcpy(&req.header, buf.data(), sizeof(req.header));
    if (req.header.magic != wire::kMagic ||
        req.header.payload_len != buf.size() - sizeof(wire::Header)) {
      log::warn("pid {}: malformed control record; closing the connection", creds_.pid);
      close();
      return;
    }
    req.payload.assign(buf.begin() + sizeof(wire::Header), buf.end());
    if (!handle(req)) {
      close();
      return;
    }
  }
  arm_read_wait();
}

bool ControlSession::reply(const wire::Header& req, int status, std::span<const uint8_t> payload,
                           uint16_t flags, int32_t arg2) {
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kReply);
  h.flags = flags;
  h.token = req.token;
  h.status = status;
  h.arg2 = arg2;
  h.payload_len = static_cast<uint32_t>(payload.size());
  iovec iov[2] = {{&h, sizeof(h)}, {const_cast<uint8_t*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = payload.empty() ? 1 : 2;
  ssize_t n;
  do {
    n = ::sendmsg(conn_.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  // The client waits for each reply before its next request, so the buffer never fills; a failure
  // means the client is gone.
  return n >= 0;
}

int ControlSession::handle_create(Request& req) {
  if (socket_) return -EISCONN;
  if (req.fds.size() != 2) return -EINVAL;
  if (auto pair = verify_socket_pair(req.fds[0], req.fds[1]); !pair) {
    log::warn("pid {}: refusing a socket: {}", creds_.pid, pair.error().describe());
    return -pair.error().err;
  }
  auto ino = socket_inode(req.fds[1]);
  if (!ino) return -ino.error().err;
  if (auto existing = ctx_.dispatch.registry.find(*ino); existing && !existing->peer_gone()) {
    return -EEXIST;  // inodes are unique among live sockets
  }
  req.fds[1].reset();  // holding the application's end would hide its EOF from us
  const bool opener_cap = has_cap_net_admin(creds_.pid);
  socket_ = ctx_.create_socket(std::move(req.fds[0]), *ino, creds_, opener_cap);
  log::debug("pid {} ({}) created a netlink socket (inode {}, CAP_NET_ADMIN {})", creds_.pid,
             creds_.comm, *ino, opener_cap);
  return 0;
}

int ControlSession::handle_attach(Request& req) {
  if (socket_) return -EISCONN;
  if (req.fds.size() != 1) return -EINVAL;
  auto ino = socket_inode(req.fds[0]);
  if (!ino) return -ino.error().err;
  req.fds[0].reset();
  socket_ = ctx_.dispatch.registry.find(*ino);
  if (!socket_) return -ECONNRESET;  // e.g. a socket from before a daemon restart
  log::debug("pid {} ({}) attached to port {}", creds_.pid, creds_.comm, socket_->portid());
  return 0;
}

bool ControlSession::handle_ipt_sockopt(Request& req) {
  const wire::Header& h = req.header;
  if (pending_ipt_.size() + req.payload.size() > kMaxDatagram) return false;  // not a sockopt
  pending_ipt_.insert(pending_ipt_.end(), req.payload.begin(), req.payload.end());
  if (h.flags & wire::kMore) return true;  // one answer per call, after the last chunk
  const std::vector<uint8_t> payload = std::exchange(pending_ipt_, {});
  if (!ctx_.ipt) return reply(h, -EOPNOTSUPP);
  // do_ipt_get_ctl/do_ipt_set_ctl check CAP_NET_ADMIN before anything else.
  if (!has_cap_net_admin(creds_.pid)) return reply(h, -EPERM);
  const sockopt::SockoptAnswer a =
      sockopt::serve(*ctx_.ipt, {h.arg0, h.arg1, h.arg2, (h.flags & wire::kIptSet) != 0, payload});
  // Large GET_ENTRIES answers travel in chunks, all but the last flagged kMore.
  return reply_chunked(h, a.status, a.data, static_cast<int32_t>(a.write_offset));
}

bool ControlSession::reply_chunked(const wire::Header& h, int status, std::span<const uint8_t> data,
                                   int32_t arg2) {
  // The answer can exceed the connection's buffer (the client reads while we write): grow it,
  // and wait for room (bounded) where it cannot grow, rather than drop the client.
  if (data.size() > wire::kMaxChunk) {
    const int want = static_cast<int>(std::min<size_t>(data.size() + wire::kMaxRecord, INT_MAX / 2));
    ::setsockopt(conn_.native_handle(), SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want));
  }
  size_t done = 0;
  do {
    const size_t n = std::min(wire::kMaxChunk, data.size() - done);
    const bool more = done + n < data.size();
    int waits = 0;
    while (!reply(h, status, data.subspan(done, n), more ? wire::kMore : 0, arg2)) {
      pollfd pfd{conn_.native_handle(), POLLOUT, 0};
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || ++waits > 50 || ::poll(&pfd, 1, 100) < 0) {
        return false;
      }
    }
    done += n;
  } while (done < data.size());
  return true;
}

bool ControlSession::handle_status(const Request& req) {
  if (!ctx_.status_json) return reply(req.header, -EOPNOTSUPP);
  // The status names tables, chains and program ids, which `nft list` shows only to CAP_NET_ADMIN.
  if (!has_cap_net_admin(creds_.pid)) return reply(req.header, -EPERM);
  const std::string json = ctx_.status_json();
  return reply_chunked(req.header, 0,
                       {reinterpret_cast<const uint8_t*>(json.data()), json.size()});
}

bool ControlSession::handle(Request& req) {
  const auto kind = static_cast<wire::Kind>(req.header.kind);
  const wire::Header& h = req.header;
  if (kind == wire::Kind::kCreate) return reply(h, handle_create(req));
  if (kind == wire::Kind::kAttach) return reply(h, handle_attach(req));
  if (kind == wire::Kind::kIptSockopt) return handle_ipt_sockopt(req);
  if (kind == wire::Kind::kStatus) return handle_status(req);
  if (!socket_) return reply(h, -EBADF);
  if (socket_->closed()) return reply(h, -ECONNRESET);

  // Permission checks that the kernel makes against `current` happen per call.
  auto caller = [&] { return Caller{h.arg0, has_cap_net_admin(creds_.pid)}; };
  auto status_of = [](const Result<void>& r) { return r ? 0 : -r.error().err; };
  PortTable& ports = ctx_.dispatch.registry.ports();

  switch (kind) {
    case wire::Kind::kBind:
      return reply(h, status_of(netlink_bind(*socket_, ports, req.payload, caller())));
    case wire::Kind::kConnect:
      return reply(h, status_of(netlink_connect(*socket_, ports, req.payload, caller())));
    case wire::Kind::kGetName: {
      const sockaddr_nl nl = netlink_getname(*socket_, h.arg0 != 0);
      return reply(h, 0, {reinterpret_cast<const uint8_t*>(&nl), sizeof(nl)});
    }
    case wire::Kind::kSetOpt:
      return reply(h, status_of(netlink_setsockopt(*socket_, h.arg0, h.arg1, req.payload,
                                                   caller())));
    case wire::Kind::kGetOpt: {
      auto value = netlink_getsockopt(*socket_, h.arg0, h.arg1, h.arg2);
      if (!value) return reply(h, -value.error().err);
      return reply(h, 0, *value);
    }
    case wire::Kind::kNetlinkSend: {
      if (pending_datagram_.size() + req.payload.size() > kMaxDatagram) {
        // Larger than any netlink socket buffer: refuse once, at the datagram's last chunk.
        oversized_ = true;
        pending_datagram_.clear();
      } else if (!oversized_) {
        pending_datagram_.insert(pending_datagram_.end(), req.payload.begin(), req.payload.end());
      }
      if (h.flags & wire::kMore) return true;  // one answer per datagram, after the last chunk
      if (std::exchange(oversized_, false)) return reply(h, -EMSGSIZE);
      std::vector<uint8_t> datagram = std::move(pending_datagram_);
      pending_datagram_ = {};
      const bool all_queued =
          dispatch_datagram(ctx_.dispatch, *socket_, creds_, h.arg0, datagram);
      if (!all_queued) {
        log::warn("port {}: replies exceed the socket buffer; the client may see them late",
                  socket_->portid());
      }
      return reply(h, 0, {}, all_queued ? 0 : wire::kPartial);
    }
    case wire::Kind::kArm: {
      Record marker(wire::kSyncMarkerSize, 0);
      nlmsghdr nlh{};
      nlh.nlmsg_len = static_cast<uint32_t>(wire::kSyncMarkerSize);
      nlh.nlmsg_type = NLMSG_NOOP;
      std::memcpy(marker.data(), &nlh, sizeof(nlh));
      std::memcpy(marker.data() + sizeof(nlh), wire::kSyncMarkerMagic,
                  sizeof(wire::kSyncMarkerMagic));
      std::vector<Record> one;
      one.push_back(std::move(marker));
      socket_->deliver(std::move(one));
      return reply(h, 0);
    }
    case wire::Kind::kSync: {
      // Datagrams written into the pair before this request are in our end's queue already:
      // serve them now, as this process's, so their replies are queued before we answer.
      bool all_queued = true;
      socket_->process_pending_input([&](NetlinkSocket& s, std::span<const uint8_t> d) {
        all_queued = dispatch_datagram(ctx_.dispatch, s, creds_, h.arg0, d) && all_queued;
      });
      if (socket_->closed()) return reply(h, -ECONNRESET);
      return reply(h, 0, {}, all_queued ? 0 : wire::kPartial);
    }
    default:
      return reply(h, -EOPNOTSUPP);
  }
}

}  // namespace nfbpf::nfnl::daemon
