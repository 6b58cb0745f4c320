// The daemon's transport end to end, with the client side of the shim (EmulatedSocket) used
// directly in this process (no LD_PRELOAD) and a FakeProtocol behind the daemon.

#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <future>

#include "nfnl-server/daemon/record_packer.h"
#include "nfnl-server/daemon/testing/server_fixture.h"
#include "nfnl-server/shim/emulated_socket.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace nfbpf::nfnl::testing {
namespace {

using shim::EmulatedSocket;
namespace wire = nfbpf::nfnl::wire;

struct Client {
  int fd = -1;
  std::shared_ptr<EmulatedSocket> sock;

  explicit Client(const std::string& path, int type = SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC) {
    fd = EmulatedSocket::create(path, type, &sock);
  }
  ~Client() {
    sock.reset();
    if (fd >= 0) ::close(fd);
  }
  ssize_t send(const Message& m) {
    iovec iov{const_cast<uint8_t*>(m.data()), m.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    return sock->send(fd, &msg, 0);
  }
  uint32_t bind_port(uint32_t port = 0) {
    sockaddr_nl nl{};
    nl.nl_family = AF_NETLINK;
    nl.nl_pid = port;
    last_error = sock->bind(fd, reinterpret_cast<sockaddr*>(&nl), sizeof(nl));
    return portid();
  }
  uint32_t portid() {
    sockaddr_nl nl{};
    socklen_t len = sizeof(nl);
    EXPECT_EQ(sock->getname(fd, reinterpret_cast<sockaddr*>(&nl), &len, false), 0);
    EXPECT_EQ(len, sizeof(nl));
    return nl.nl_pid;
  }
  // Every record readable right now, without waiting (what nft does after select(0)).
  std::vector<std::vector<uint8_t>> drain_now() {
    std::vector<std::vector<uint8_t>> out;
    std::vector<uint8_t> buf(1 << 16);
    for (;;) {
      iovec iov{buf.data(), buf.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      ssize_t n = EmulatedSocket::recv(fd, &msg, MSG_DONTWAIT);
      if (n < 0) {
        last_error = static_cast<int>(n);
        break;
      }
      out.emplace_back(buf.begin(), buf.begin() + n);
    }
    return out;
  }
  int last_error = 0;
};

nlmsghdr header_of(const std::vector<uint8_t>& record, size_t off = 0) {
  nlmsghdr h;
  std::memcpy(&h, record.data() + off, sizeof(h));
  return h;
}

bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

TEST(Transport, SendReturnsOnlyWhenEveryReplyIsQueued) {
  ServerThread server;
  Client c(server.socket_path());
  ASSERT_GE(c.fd, 0);
  // 50 echoes with acks in one datagram (the first one slow): 100 replies, every one readable
  // as soon as send() returns.
  Message batch;
  for (uint32_t seq = 1; seq <= 50; ++seq) {
    auto m = make_request(seq == 1 ? kSlowEcho : kEcho, NLM_F_ACK, seq);
    batch.insert(batch.end(), m.begin(), m.end());
  }
  ASSERT_EQ(c.send(batch), static_cast<ssize_t>(batch.size()));
  ASSERT_TRUE(readable_now(c.fd));
  auto records = c.drain_now();
  EXPECT_EQ(c.last_error, -EAGAIN);
  size_t echoes = 0, acks = 0;
  for (auto& r : records) {
    for (size_t off = 0; off < r.size();) {
      const nlmsghdr h = header_of(r, off);
      if (h.nlmsg_type == kEcho || h.nlmsg_type == kSlowEcho) ++echoes;
      if (h.nlmsg_type == NLMSG_ERROR) {
        ++acks;
        EXPECT_EQ(r.size(), h.nlmsg_len) << "an ack shares its record";
      }
      EXPECT_EQ(h.nlmsg_pid, c.portid());
      off += NLMSG_ALIGN(h.nlmsg_len);
    }
  }
  EXPECT_EQ(echoes, 50u);
  EXPECT_EQ(acks, 50u);
}

TEST(Transport, DumpRecordsAreBoundedAndDoneTravelsAlone) {
  ServerThread server;
  Client c(server.socket_path());
  ASSERT_EQ(c.send(make_u32_request(kDump, NLM_F_DUMP, 9, {100, 500})), 24);
  auto records = c.drain_now();
  ASSERT_FALSE(records.empty());
  size_t messages = 0;
  for (size_t i = 0; i + 1 < records.size(); ++i) {
    EXPECT_LE(records[i].size(), daemon::kMaxRecordBytes);
    messages += records[i].size() / 500;
  }
  EXPECT_EQ(messages, 100u);
  const auto& last = records.back();
  EXPECT_EQ(header_of(last).nlmsg_type, NLMSG_DONE);
  EXPECT_EQ(last.size(), NLMSG_ALIGN(header_of(last).nlmsg_len));
}

TEST(Transport, RecvReportsTheKernelAsSource) {
  ServerThread server;
  Client c(server.socket_path());
  ASSERT_GT(c.send(make_request(kEcho, 0, 1)), 0);
  std::vector<uint8_t> buf(8192);
  sockaddr_storage from;
  std::memset(&from, 0xff, sizeof(from));
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof(from);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ASSERT_EQ(EmulatedSocket::recv(c.fd, &msg, MSG_DONTWAIT), 16);
  EXPECT_EQ(msg.msg_namelen, sizeof(sockaddr_nl));
  sockaddr_nl nl;
  std::memcpy(&nl, &from, sizeof(nl));
  EXPECT_EQ(nl.nl_family, AF_NETLINK);
  EXPECT_EQ(nl.nl_pid, 0u);
  EXPECT_EQ(nl.nl_groups, 0u);
}

TEST(Transport, PeekAndTruncBehaveLikeNetlink) {
  ServerThread server;
  Client c(server.socket_path());
  ASSERT_GT(c.send(make_u32_request(kDump, 0, 1, {1, 1000})), 0);
  char small[16];
  iovec iov{small, sizeof(small)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // MSG_PEEK|MSG_TRUNC reports the record's full size and leaves it queued.
  EXPECT_EQ(EmulatedSocket::recv(c.fd, &msg, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT), 1000);
  EXPECT_TRUE(msg.msg_flags & MSG_TRUNC);
  auto records = c.drain_now();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].size(), 1000u);
}

TEST(Transport, PortIdsFollowTheKernel) {
  ServerThread server;
  Client a(server.socket_path()), b(server.socket_path()), c(server.socket_path());
  EXPECT_EQ(a.portid(), 0u) << "unbound sockets report port 0";
  EXPECT_EQ(a.bind_port(), static_cast<uint32_t>(::getpid()));
  const int32_t second = static_cast<int32_t>(b.bind_port());
  EXPECT_LE(second, -4097);
  // Autobind on first send, too.
  ASSERT_GT(c.send(make_request(kEcho, 0, 1)), 0);
  const int32_t third = static_cast<int32_t>(c.portid());
  EXPECT_LE(third, -4097);
  EXPECT_NE(second, third);
  EXPECT_EQ(server.protocol().last_peer().portid, static_cast<uint32_t>(third));
  // Explicit ports: taken is EADDRINUSE; a free one sticks.
  Client d(server.socket_path()), e(server.socket_path());
  d.bind_port(static_cast<uint32_t>(::getpid()));
  EXPECT_EQ(d.last_error, -EADDRINUSE);
  EXPECT_EQ(e.bind_port(777777), 777777u);
  // A closed socket frees its port.
  const uint32_t freed = a.portid();
  a.sock.reset();
  ::close(a.fd);
  a.fd = -1;
  for (int i = 0; i < 100; ++i) {
    bool in_use = true;
    server.run_on_daemon([&](daemon::Server& s) { in_use = s.registry().ports().in_use(freed); });
    if (!in_use) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Client f(server.socket_path());
  EXPECT_EQ(f.bind_port(), freed);
}

TEST(Transport, PeerCarriesCredentialsAndFlags) {
  ServerThread server;
  Client c(server.socket_path());
  int one = 1;
  ASSERT_EQ(c.sock->setsockopt(c.fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)), 0);
  ASSERT_EQ(c.sock->setsockopt(c.fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)), 0);
  ASSERT_GT(c.send(make_request(kEcho, 0, 1)), 0);
  const Peer p = server.protocol().last_peer();
  EXPECT_EQ(p.pid, ::getpid());
  EXPECT_TRUE(p.ext_ack);
  EXPECT_TRUE(p.cap_ack);
  EXPECT_EQ(p.cap_net_admin, ::geteuid() == 0);
  EXPECT_FALSE(p.comm.empty());
  int val = 0;
  socklen_t len = sizeof(val);
  ASSERT_EQ(c.sock->getsockopt(c.fd, SOL_NETLINK, NETLINK_EXT_ACK, &val, &len), 0);
  EXPECT_EQ(val, 1);
  EXPECT_EQ(len, sizeof(int));
  ASSERT_EQ(c.sock->getsockopt(c.fd, SOL_SOCKET, SO_PROTOCOL, &val, &len), 0);
  EXPECT_EQ(val, NETLINK_NETFILTER);
}

TEST(Transport, MulticastReachesSubscribersOnly) {
  ServerThread server;
  Client listener(server.socket_path()), bystander(server.socket_path()),
      sender(server.socket_path());
  int group = 7;  // NFNLGRP_NFTABLES
  ASSERT_EQ(listener.sock->setsockopt(listener.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group,
                                      sizeof(group)),
            0);
  bystander.bind_port();
  ASSERT_GT(sender.send(make_u32_request(kPublish, 0, 5, {7})), 0);
  auto got = listener.drain_now();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(header_of(got[0]).nlmsg_type, kPublish);
  EXPECT_EQ(header_of(got[0]).nlmsg_seq, 5u);
  EXPECT_TRUE(bystander.drain_now().empty());
  EXPECT_TRUE(sender.drain_now().empty());
  // bind() with nl_groups subscribes too; dropping ends it.
  ASSERT_EQ(listener.sock->setsockopt(listener.fd, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, &group,
                                      sizeof(group)),
            0);
  sockaddr_nl nl{};
  nl.nl_family = AF_NETLINK;
  nl.nl_groups = 1u << 6;
  nl.nl_pid = bystander.portid();  // a bound socket may only "rebind" to its own port
  ASSERT_EQ(bystander.sock->bind(bystander.fd, reinterpret_cast<sockaddr*>(&nl), sizeof(nl)), 0);
  ASSERT_GT(sender.send(make_u32_request(kPublish, 0, 6, {7})), 0);
  EXPECT_TRUE(listener.drain_now().empty());
  EXPECT_EQ(bystander.drain_now().size(), 1u);
}

TEST(Transport, NotificationsOfOneDatagramShareRecords) {
  // nft_commit_notify() packs a commit's notifications into NLMSG_GOODSIZE skbs.
  ServerThread server;
  Client listener(server.socket_path()), sender(server.socket_path());
  int group = 7;
  ASSERT_EQ(listener.sock->setsockopt(listener.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group,
                                      sizeof(group)),
            0);
  Message batch;
  std::vector<uint8_t> filler(1000, 0x5a);
  for (uint32_t seq = 1; seq <= 8; ++seq) {
    std::vector<uint32_t> words(1 + filler.size() / 4, 0x5a5a5a5a);
    words[0] = 7;
    auto m = make_u32_request(kPublish, 0, seq, words);
    batch.insert(batch.end(), m.begin(), m.end());
  }
  ASSERT_GT(sender.send(batch), 0);
  auto got = listener.drain_now();
  ASSERT_EQ(got.size(), 3u) << "8 notifications of ~1 KB in records of at most 3776 bytes";
  uint32_t next_seq = 1;
  for (auto& r : got) {
    EXPECT_LE(r.size(), daemon::kMaxRecordBytes);
    for (size_t off = 0; off < r.size(); off += NLMSG_ALIGN(header_of(r, off).nlmsg_len)) {
      EXPECT_EQ(header_of(r, off).nlmsg_seq, next_seq++) << "in publish order";
    }
  }
  EXPECT_EQ(next_seq, 9u);
}

// `listener` joins group 7 and `sender` publishes 1 000 1-KB notifications to it (far more than
// a 64 KB buffer holds) without the listener reading; the daemon must still answer the sender.
void flood_listener(Client& listener, Client& sender) {
  int group = 7;
  ASSERT_EQ(listener.sock->setsockopt(listener.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group,
                                      sizeof(group)),
            0);
  std::vector<uint32_t> words(256, 0);
  words[0] = 7;
  for (uint32_t seq = 1; seq <= 1000; ++seq) {
    ASSERT_GT(sender.send(make_u32_request(kPublish, 0, seq, words)), 0);
  }
  ASSERT_GT(sender.send(make_request(kEcho, 0, 2000)), 0);
  EXPECT_EQ(sender.drain_now().size(), 1u);
}

TEST(Transport, ListenerThatNeverReadsLosesNotificationsNotTheDaemon) {
  ServerThread server(64 << 10);
  Client listener(server.socket_path()), sender(server.socket_path());
  // The daemon still answers, and the listener got the first ones, in order, but not all.
  flood_listener(listener, sender);
  // Read everything, including what the daemon held while the buffer was full. The loss is
  // reported once as ENOBUFS (netlink_overrun()), after which reading goes on.
  std::vector<std::vector<uint8_t>> got;
  int enobufs = 0;
  for (;;) {
    auto more = listener.drain_now();
    got.insert(got.end(), more.begin(), more.end());
    if (listener.last_error == -ENOBUFS) {
      ++enobufs;
      continue;
    }
    pollfd p{listener.fd, POLLIN, 0};
    if (::poll(&p, 1, 200) != 1) break;
  }
  EXPECT_EQ(enobufs, 1);
  EXPECT_GT(got.size(), 10u);
  EXPECT_LT(got.size(), 1000u);
  EXPECT_EQ(header_of(got[0]).nlmsg_seq, 1u);
  uint64_t overruns = 0;
  server.run_on_daemon([&](daemon::Server& s) {
    s.registry().find_if([&](const daemon::NetlinkSocket& sock) {
      overruns += sock.overruns();
    });
  });
  EXPECT_EQ(overruns + got.size(), 1000u);
}

TEST(Transport, NoEnobufsListenerLosesNotificationsSilently) {
  ServerThread server(64 << 10);
  Client listener(server.socket_path()), sender(server.socket_path());
  int on = 1;
  ASSERT_EQ(listener.sock->setsockopt(listener.fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &on,
                                      sizeof(on)),
            0);
  flood_listener(listener, sender);
  size_t got = 0;
  for (;;) {
    got += listener.drain_now().size();
    EXPECT_NE(listener.last_error, -ENOBUFS);
    pollfd p{listener.fd, POLLIN, 0};
    if (::poll(&p, 1, 200) != 1) break;
  }
  EXPECT_GT(got, 10u);
  EXPECT_LT(got, 1000u);
}

TEST(Transport, MultiMegabyteReplyDoesNotDeadlock) {
  ServerThread server;
  Client c(server.socket_path());
  // 8 MB of dump in 2 KB messages, all queued before send() returns.
  const uint32_t count = 4096, size = 2048;
  auto sent = std::async(std::launch::async,
                         [&] { return c.send(make_u32_request(kDump, NLM_F_DUMP, 3, {count, size})); });
  ASSERT_EQ(sent.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "deadlock";
  ASSERT_GT(sent.get(), 0);
  auto records = c.drain_now();
  size_t bytes = 0;
  for (auto& r : records) bytes += r.size();
  EXPECT_EQ(bytes, size_t{count} * size + NLMSG_HDRLEN + 4);
  EXPECT_EQ(header_of(records.back()).nlmsg_type, NLMSG_DONE);
}

TEST(Transport, SmallReplyBufferDegradesWithoutDeadlock) {
  // Without room for the whole reply the daemon answers early and streams the rest as the
  // client reads: slower and not select(0)-safe, but never stuck.
  ServerThread server(64 << 10);
  Client c(server.socket_path());
  const uint32_t count = 2000, size = 2048;
  auto sent = std::async(std::launch::async,
                         [&] { return c.send(make_u32_request(kDump, NLM_F_DUMP, 3, {count, size})); });
  ASSERT_EQ(sent.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "deadlock";
  ASSERT_GT(sent.get(), 0);
  size_t bytes = 0;
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    pollfd p{c.fd, POLLIN, 100};
    ::poll(&p, 1, 100);
    for (auto& r : c.drain_now()) {
      bytes += r.size();
      if (header_of(r).nlmsg_type == NLMSG_DONE) done = true;
    }
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(bytes, size_t{count} * size + NLMSG_HDRLEN + 4);
}

TEST(Transport, LargeRequestsArriveWholeInChunks) {
  ServerThread server;
  Client c(server.socket_path());
  int big = 16 << 20;
  ASSERT_EQ(::setsockopt(c.fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) == 0 ||
                ::setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)) == 0,
            true);
  // One 5 MB datagram: a kMeasure header followed by echo messages full of a byte pattern.
  Message datagram = make_request(kMeasure, 0, 1);
  uint64_t sum = 0;
  std::vector<uint8_t> payload(4000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7);
  while (datagram.size() < (5u << 20)) {
    auto m = make_request(kEcho, 0, 2, payload);
    datagram.insert(datagram.end(), m.begin(), m.end());
  }
  for (uint8_t b : datagram) sum += b;
  int sndbuf = 0;
  socklen_t len = sizeof(sndbuf);
  ::getsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
  if (static_cast<size_t>(sndbuf) < datagram.size() + 32) {
    // Not root: the kernel's EMSGSIZE rule applies, as it would for netlink.
    EXPECT_EQ(c.send(datagram), -EMSGSIZE);
    return;
  }
  ASSERT_EQ(c.send(datagram), static_cast<ssize_t>(datagram.size()));
  auto records = c.drain_now();
  ASSERT_EQ(records.size(), 1u);
  uint64_t words[2];
  std::memcpy(words, records[0].data() + NLMSG_HDRLEN, sizeof(words));
  EXPECT_EQ(words[0], datagram.size());
  EXPECT_EQ(words[1], sum);
}

TEST(Transport, DeadDaemonReadsAsConnectionReset) {
  ServerThread server;
  Client c(server.socket_path());
  c.bind_port();
  server.stop();
  // Readable (EOF) for select/poll, and the read says ECONNRESET rather than 0.
  pollfd p{c.fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  c.drain_now();
  EXPECT_EQ(c.last_error, -ECONNRESET);
  EXPECT_EQ(c.send(make_request(kEcho, 0, 1)), -ECONNRESET);
}

TEST(Transport, MissingDaemonRefusesTheSocket) {
  std::shared_ptr<EmulatedSocket> sock;
  EXPECT_EQ(EmulatedSocket::create("/nonexistent/nfbpf.sock", SOCK_RAW, &sock), -ECONNREFUSED);
  EXPECT_EQ(EmulatedSocket::create("/nonexistent/nfbpf.sock", SOCK_STREAM, &sock),
            -ESOCKTNOSUPPORT);
}

TEST(Transport, StaleSocketFileIsReplacedAndLiveOneRefused) {
  ServerThread first;
  daemon::ServerOptions options;
  options.socket_path = first.socket_path();
  FakeProtocol protocol;
  boost::asio::io_context io;
  {
    daemon::Server second(io, options, protocol);
    auto r = second.start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().err, EADDRINUSE);
  }
  EXPECT_EQ(::access(first.socket_path().c_str(), F_OK), 0) << "the live daemon's file stays";
}

TEST(Transport, ForkedChildAttachesItsOwnControlConnection) {
  ServerThread server;
  Client c(server.socket_path());
  const uint32_t port = c.bind_port();
  // A second control connection for the same socket (what a forked child or exec'ed image does).
  auto other = EmulatedSocket::adopt(server.socket_path(), SOCK_RAW);
  iovec iov;
  Message m = make_request(kEcho, 0, 42);
  iov = {m.data(), m.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ASSERT_EQ(other->send(c.fd, &msg, 0), static_cast<ssize_t>(m.size()));
  auto got = c.drain_now();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(header_of(got[0]).nlmsg_seq, 42u);
  EXPECT_EQ(header_of(got[0]).nlmsg_pid, port) << "same socket, same port";
}

TEST(Transport, DatagramWrittenPastTheShimIsStillServed) {
  ServerThread server;
  Client c(server.socket_path(), SOCK_RAW);
  Message m = make_request(kEcho, 0, 77);
  ASSERT_EQ(::write(c.fd, m.data(), m.size()), static_cast<ssize_t>(m.size()));
  pollfd p{c.fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  auto got = c.drain_now();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(header_of(got[0]).nlmsg_seq, 77u);
}

// The protocol the libmnl patch relies on for programs that send on the fd themselves: kArm
// queues a marker before the raw send; kSync serves the raw datagram before answering.
TEST(Transport, ArmAndSyncServeRawSendsBeforeAnswering) {
  ServerThread server;
  Client c(server.socket_path(), SOCK_RAW | SOCK_NONBLOCK);
  c.bind_port();
  const int control = shim::connect_control(server.socket_path());
  ASSERT_GE(control, 0);
  auto call = [&](wire::Kind kind, std::span<const int> fds = {}) {
    static uint32_t token = 100;
    wire::Header h;
    h.kind = static_cast<uint16_t>(kind);
    h.token = ++token;
    h.arg0 = ::getpid();
    EXPECT_EQ(shim::control_send(control, h, {}, fds), 0);
    shim::ControlReply reply;
    EXPECT_EQ(shim::control_receive(control, h.token, reply), 0);
    return reply.header.status;
  };
  const int fds[1] = {c.fd};
  ASSERT_EQ(call(wire::Kind::kAttach, fds), 0);
  ASSERT_EQ(call(wire::Kind::kArm), 0);
  ASSERT_TRUE(readable_now(c.fd)) << "the marker is queued before any raw send";
  Message m = make_request(kSlowEcho, NLM_F_ACK, 8);
  ASSERT_EQ(::send(c.fd, m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
  ASSERT_EQ(call(wire::Kind::kSync), 0);
  auto got = c.drain_now();
  ASSERT_EQ(got.size(), 3u) << "marker, echo, ack";
  EXPECT_EQ(header_of(got[0]).nlmsg_type, NLMSG_NOOP);
  EXPECT_EQ(got[0].size(), wire::kSyncMarkerSize);
  EXPECT_EQ(std::memcmp(got[0].data() + sizeof(nlmsghdr), wire::kSyncMarkerMagic, 8), 0);
  EXPECT_EQ(header_of(got[1]).nlmsg_seq, 8u);
  EXPECT_EQ(header_of(got[2]).nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(server.protocol().last_peer().pid, ::getpid());
  ::close(control);
}

TEST(Transport, ForgedSocketPairIsRefused) {
  // kCreate must carry the two ends of one pair: otherwise a client could register someone
  // else's socket inode as its own.
  ServerThread server;
  const int control = shim::connect_control(server.socket_path());
  ASSERT_GE(control, 0);
  int a[2], b[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, b), 0);
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kCreate);
  h.token = 1;
  const int fds[2] = {a[1], b[0]};
  ASSERT_EQ(shim::control_send(control, h, {}, fds), 0);
  shim::ControlReply reply;
  ASSERT_EQ(shim::control_receive(control, 1, reply), 0);
  EXPECT_EQ(reply.header.status, -EINVAL);
  for (int fd : {a[0], a[1], b[0], b[1], control}) ::close(fd);
}

}  // namespace
}  // namespace nfbpf::nfnl::testing
