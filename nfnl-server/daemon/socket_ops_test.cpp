#include "nfnl-server/daemon/socket_ops.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace nfbpf::nfnl::daemon {
namespace {

class SocketOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    app_end_.reset(sv[1]);
    socket_ = std::make_shared<NetlinkSocket>(io_, Fd(sv[0]), 1, PeerCredentials{}, true, 1 << 16,
                                              NetlinkSocket::Callbacks{});
  }
  static std::vector<uint8_t> addr(uint32_t pid, uint32_t groups) {
    sockaddr_nl nl{};
    nl.nl_family = AF_NETLINK;
    nl.nl_pid = pid;
    nl.nl_groups = groups;
    std::vector<uint8_t> out(sizeof(nl));
    std::memcpy(out.data(), &nl, sizeof(nl));
    return out;
  }
  static std::vector<uint8_t> int_value(int v) {
    std::vector<uint8_t> out(sizeof(int));
    std::memcpy(out.data(), &v, sizeof(int));
    return out;
  }

  boost::asio::io_context io_;
  Fd app_end_;
  std::shared_ptr<NetlinkSocket> socket_;
  PortTable ports_;
  Caller root_{100, true};
  Caller user_{100, false};
};

TEST_F(SocketOpsTest, BindZeroAutobindsToThePid) {
  ASSERT_TRUE(netlink_bind(*socket_, ports_, addr(0, 0), root_));
  EXPECT_EQ(socket_->portid(), 100u);
  EXPECT_EQ(netlink_getname(*socket_, false).nl_pid, 100u);
  // Rebinding to the same port is fine, to another one is EINVAL.
  EXPECT_TRUE(netlink_bind(*socket_, ports_, addr(100, 0), root_));
  auto other = netlink_bind(*socket_, ports_, addr(5, 0), root_);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().err, EINVAL);
}

TEST_F(SocketOpsTest, BindRejectsShortOrForeignAddresses) {
  auto a = addr(0, 0);
  auto r = netlink_bind(*socket_, ports_, std::span(a).first(4), root_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EINVAL);
  a[0] = AF_UNIX;
  r = netlink_bind(*socket_, ports_, a, root_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EINVAL);
}

TEST_F(SocketOpsTest, GroupsNeedCapNetAdmin) {
  auto r = netlink_bind(*socket_, ports_, addr(0, 1u << 6), user_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EPERM);
  auto add = netlink_setsockopt(*socket_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, int_value(7), user_);
  ASSERT_FALSE(add);
  EXPECT_EQ(add.error().err, EPERM);
}

TEST_F(SocketOpsTest, MembershipsAddDropAndList) {
  ASSERT_TRUE(netlink_setsockopt(*socket_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, int_value(7), root_));
  EXPECT_TRUE(socket_->in_group(7));
  EXPECT_EQ(netlink_getname(*socket_, false).nl_groups, 1u << 6);
  auto list = netlink_getsockopt(*socket_, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, 4);
  ASSERT_TRUE(list);
  uint32_t words;
  std::memcpy(&words, list->data(), 4);
  EXPECT_EQ(words, 1u << 6);
  ASSERT_TRUE(netlink_setsockopt(*socket_, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, int_value(7), root_));
  EXPECT_FALSE(socket_->in_group(7));
  auto bad = netlink_setsockopt(*socket_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, int_value(10), root_);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().err, EINVAL);
}

TEST_F(SocketOpsTest, BindGroupsAreMaskedToNfnetlinkGroups) {
  ASSERT_TRUE(netlink_bind(*socket_, ports_, addr(0, 0xffffffffu), root_));
  EXPECT_EQ(socket_->groups(), (1u << kNfnlGroups) - 1);
}

TEST_F(SocketOpsTest, FlagOptionsRoundTrip) {
  ASSERT_TRUE(netlink_setsockopt(*socket_, SOL_NETLINK, NETLINK_EXT_ACK, int_value(1), user_));
  EXPECT_TRUE(socket_->flags.ext_ack);
  auto v = netlink_getsockopt(*socket_, SOL_NETLINK, NETLINK_EXT_ACK, 4);
  ASSERT_TRUE(v);
  int val;
  std::memcpy(&val, v->data(), 4);
  EXPECT_EQ(val, 1);
  auto small = netlink_getsockopt(*socket_, SOL_NETLINK, NETLINK_EXT_ACK, 2);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().err, EINVAL);
  auto level = netlink_setsockopt(*socket_, SOL_SOCKET, NETLINK_EXT_ACK, int_value(1), user_);
  ASSERT_FALSE(level);
  EXPECT_EQ(level.error().err, ENOPROTOOPT);
  auto unknown = netlink_setsockopt(*socket_, SOL_NETLINK, 99, int_value(1), user_);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().err, ENOPROTOOPT);
}

TEST_F(SocketOpsTest, ConnectAutobindsAndRecordsThePeer) {
  ASSERT_TRUE(netlink_connect(*socket_, ports_, addr(0, 0), user_));
  EXPECT_TRUE(socket_->bound());
  auto r = netlink_connect(*socket_, ports_, addr(55, 0), user_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EPERM);
}

}  // namespace
}  // namespace nfbpf::nfnl::daemon
