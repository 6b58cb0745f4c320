#include "nfnl-server/daemon/nfnetlink_gate.h"

#include <gtest/gtest.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstring>

namespace nfbpf::nfnl::daemon {
namespace {

// GETTABLE-like request: header + nfgenmsg + 8 bytes of attributes.
std::vector<uint8_t> request(uint32_t seq) {
  std::vector<uint8_t> d(NLMSG_HDRLEN + 12, 0xab);
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(d.size());
  h.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | 1;
  h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  h.nlmsg_seq = seq;
  std::memcpy(d.data(), &h, sizeof(h));
  return d;
}

nlmsgerr error_of(const Message& m) {
  nlmsgerr e;
  std::memcpy(&e, m.data() + NLMSG_HDRLEN, sizeof(e));
  return e;
}

TEST(NfnetlinkGate, CapablePeerPassesThrough) {
  Peer peer;
  peer.cap_net_admin = true;
  EXPECT_FALSE(nfnetlink_gate(peer, request(1)).has_value());
}

TEST(NfnetlinkGate, UncapablePeerGetsEpermWithTheRequestEchoed) {
  Peer peer;
  peer.portid = 4242;
  auto d = request(7);
  auto second = request(8);
  d.insert(d.end(), second.begin(), second.end());  // only the first message is answered
  auto out = nfnetlink_gate(peer, d);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 1u);
  const Message& m = (*out)[0];
  nlmsghdr h;
  std::memcpy(&h, m.data(), sizeof(h));
  EXPECT_EQ(h.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(h.nlmsg_seq, 7u);
  EXPECT_EQ(h.nlmsg_pid, 4242u);
  EXPECT_EQ(h.nlmsg_flags, 0);  // not capped: the whole request follows
  EXPECT_EQ(h.nlmsg_len, NLMSG_HDRLEN + sizeof(nlmsgerr) + 12);
  EXPECT_EQ(error_of(m).error, -EPERM);
  EXPECT_EQ(error_of(m).msg.nlmsg_seq, 7u);
  EXPECT_EQ(m[NLMSG_HDRLEN + sizeof(nlmsgerr)], 0xab);
}

TEST(NfnetlinkGate, CapAckLeavesTheRequestOut) {
  Peer peer;
  peer.cap_ack = true;
  auto out = nfnetlink_gate(peer, request(1));
  ASSERT_TRUE(out.has_value());
  nlmsghdr h;
  std::memcpy(&h, (*out)[0].data(), sizeof(h));
  EXPECT_EQ(h.nlmsg_flags, NLM_F_CAPPED);
  EXPECT_EQ(h.nlmsg_len, NLMSG_HDRLEN + sizeof(nlmsgerr));
}

TEST(NfnetlinkGate, MalformedFirstHeaderIsDroppedSilently) {
  Peer peer;  // even without CAP_NET_ADMIN: the length check comes first
  auto d = request(1);
  d.resize(10);
  auto out = nfnetlink_gate(peer, d);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->empty());
  auto longer = request(1);
  nlmsghdr h;
  std::memcpy(&h, longer.data(), sizeof(h));
  h.nlmsg_len = 4096;
  std::memcpy(longer.data(), &h, sizeof(h));
  out = nfnetlink_gate(Peer{}, longer);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->empty());
}

}  // namespace
}  // namespace nfbpf::nfnl::daemon
