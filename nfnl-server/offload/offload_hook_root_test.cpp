// The BPF backend behind the real nf_tables protocol object: batches built as nft builds them are
// committed inside a scratch receiver namespace, and UDP traffic from a sender namespace over a
// veth pair shows what the attached programs do.
#include "nfnl-server/offload/offload_hook.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "codegen/kernel/linux_kernel.h"
#include "codegen/kernel/testing/netns_pair.h"
#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/offload/testing/nft_batch.h"

namespace nfbpf::offload {
namespace {

using codegen::testing::NetnsPair;
using testing::NftBatch;
using testing::RuleSpec;

constexpr const char* kOtherSender = "10.99.0.3";  // a second address on the sender's veth
constexpr uint16_t kPort = 5555;
constexpr int kPackets = 5;
constexpr size_t kPayload = 100;

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

uint32_t addr_be(const char* a) {
  in_addr x{};
  inet_pton(AF_INET, a, &x);
  return x.s_addr;
}

class OffloadSandbox : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ns = NetnsPair::create();
    ASSERT_TRUE(ns) << ns.error().describe();
    ns_.emplace(std::move(*ns));
    ASSERT_TRUE(ns_->run_in_sender({"ip", "addr", "add", std::string(kOtherSender) + "/24", "dev", "va"}));
    auto hook = std::make_unique<OffloadHook>(std::make_unique<codegen::kernel::LinuxKernel>());
    hook_ = hook.get();
    proto_ = nftables::make_nftables_protocol(std::move(hook));
    Result<Fd> rx = fail(EINVAL, "not created"), tx1 = fail(EINVAL, "not created"), tx3 = fail(EINVAL, "not created");
    ASSERT_TRUE(ns_->in_receiver([&] { rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
    ASSERT_TRUE(ns_->in_sender([&] {
      tx1 = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 0);
      tx3 = codegen::testing::udp_socket_bound(kOtherSender, 0);
    }));
    ASSERT_TRUE(rx && tx1 && tx3);
    rx_ = std::move(*rx);
    tx1_ = std::move(*tx1);
    tx3_ = std::move(*tx3);
  }

  // Runs a batch through the protocol with the daemon's thread in the receiver namespace (where
  // netfilter links land); returns the first error (0: committed).
  int submit(NftBatch& b) {
    auto bytes = b.done();
    std::vector<nfnl::Message> replies;
    NoMulticast mc;
    nfnl::Peer peer{.portid = 100, .pid = 100, .comm = "nft", .cap_net_admin = true, .ext_ack = true};
    auto r = ns_->in_receiver([&] { replies = proto_->handle(peer, bytes, mc); });
    EXPECT_TRUE(r);
    return testing::first_error(replies);
  }

  // Datagrams that reached the receiver out of kPackets sent from `tx`.
  int delivered(const Fd& tx) {
    codegen::testing::udp_drain(rx_, 0);
    auto sent = codegen::testing::udp_send(tx, NetnsPair::kReceiverAddr, kPort, kPackets, kPayload);
    EXPECT_TRUE(sent && *sent == kPackets);
    return codegen::testing::udp_drain(rx_, 200);
  }
  int from_blocked() { return delivered(tx1_); }
  int from_other() { return delivered(tx3_); }

  std::optional<NetnsPair> ns_;
  OffloadHook* hook_ = nullptr;
  std::unique_ptr<nfnl::NetlinkProtocol> proto_;
  Fd rx_, tx1_, tx3_;
};

// Table t: handles are drawn from one per-table counter (chains and rules alike).
NftBatch input_drop_from_sender(bool counter = false) {
  NftBatch b;
  b.table(NFPROTO_IPV4, "t")
      .base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0)                // handle 1
      .rule(NFPROTO_IPV4, "t", "in",
            RuleSpec{.saddr_be = addr_be(NetnsPair::kSenderAddr), .counter = counter, .verdict = NF_DROP});  // 2
  return b;
}

TEST_F(OffloadSandbox, SaddrDropAtInputDropsOnlyThatSource) {
  ASSERT_EQ(from_blocked(), kPackets);  // nothing attached yet
  auto b = input_drop_from_sender();
  ASSERT_EQ(submit(b), 0);
  EXPECT_EQ(hook_->stats().attach_points, 1u);
  EXPECT_EQ(from_blocked(), 0);
  EXPECT_EQ(from_other(), kPackets);
}

TEST_F(OffloadSandbox, DeletingTheRuleRestoresDelivery) {
  auto b = input_drop_from_sender();
  ASSERT_EQ(submit(b), 0);
  ASSERT_EQ(from_blocked(), 0);
  NftBatch del(10);
  del.del_rule(NFPROTO_IPV4, "t", "in", 2);
  ASSERT_EQ(submit(del), 0);
  EXPECT_EQ(from_blocked(), kPackets);
  // Deleting the table detaches the dispatcher.
  NftBatch drop(20);
  drop.del_table(NFPROTO_IPV4, "t");
  ASSERT_EQ(submit(drop), 0);
  EXPECT_EQ(hook_->stats().attach_points, 0u);
  EXPECT_EQ(from_blocked(), kPackets);
}

TEST_F(OffloadSandbox, RefusedExpressionFailsTheWholeBatchAndKeepsThePreviousRuleset) {
  auto b = input_drop_from_sender();
  ASSERT_EQ(submit(b), 0);
  NftBatch bad(10);
  bad.del_rule(NFPROTO_IPV4, "t", "in", 2)
      .rule(NFPROTO_IPV4, "t", "in", RuleSpec{.saddr_be = addr_be(kOtherSender), .reject = true});
  EXPECT_EQ(submit(bad), EOPNOTSUPP);
  // Neither the deletion nor the new rule happened: the sender is still dropped, the other not.
  EXPECT_EQ(from_blocked(), 0);
  EXPECT_EQ(from_other(), kPackets);
}

TEST_F(OffloadSandbox, JumpIntoRegularChain) {
  NftBatch b;
  b.table(NFPROTO_IPV4, "t")
      .base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0)
      .chain(NFPROTO_IPV4, "t", "sub")
      .rule(NFPROTO_IPV4, "t", "sub", RuleSpec{.saddr_be = addr_be(NetnsPair::kSenderAddr), .verdict = NF_DROP})
      .rule(NFPROTO_IPV4, "t", "in", RuleSpec{.verdict = NFT_JUMP, .target = "sub"});
  ASSERT_EQ(submit(b), 0);
  EXPECT_EQ(from_blocked(), 0);
  EXPECT_EQ(from_other(), kPackets);
}

// Needs the proposed policy to be visible to prepare() (s2: the store applies a NEWCHAIN's
// policy only in Txn::commit, after the hook ran; see docs/offload.md).
TEST_F(OffloadSandbox, PolicyDropWithAcceptException) {
  NftBatch b;
  b.table(NFPROTO_IPV4, "t")
      .base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0, NF_DROP)
      .rule(NFPROTO_IPV4, "t", "in", RuleSpec{.saddr_be = addr_be(kOtherSender), .verdict = NF_ACCEPT});
  ASSERT_EQ(submit(b), 0);
  EXPECT_EQ(from_blocked(), 0);
  EXPECT_EQ(from_other(), kPackets);
}

TEST_F(OffloadSandbox, CountersEqualPacketsSentAndSurviveReloads) {
  auto b = input_drop_from_sender(/*counter=*/true);
  ASSERT_EQ(submit(b), 0);
  ASSERT_EQ(from_blocked(), 0);
  ASSERT_EQ(from_other(), kPackets);  // not counted: the match fails first
  auto c = hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->packets, uint64_t(kPackets));
  EXPECT_EQ(c->bytes, uint64_t(kPackets) * (20 + 8 + kPayload));
  // Another rule in the same chain: the chain is recompiled and swapped, the count stays.
  NftBatch more(10);
  more.rule(NFPROTO_IPV4, "t", "in", RuleSpec{.saddr_be = addr_be("10.99.0.77"), .verdict = NF_DROP});
  ASSERT_EQ(submit(more), 0);
  ASSERT_EQ(from_blocked(), 0);
  c = hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->packets, uint64_t(2 * kPackets));
}

// NFT_MSG_GETRULE_RESET (`nft reset rules`, nft >= 1.0.7): the dump carries the counts, then
// the rules' BPF counters are zeroed and count on from zero.
TEST_F(OffloadSandbox, GetRuleResetZeroesTheRulesBpfCounters) {
  NftBatch b;
  b.table(NFPROTO_IPV4, "t")
      .base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0)  // handle 1
      .rule(NFPROTO_IPV4, "t", "in",
            RuleSpec{.saddr_be = addr_be(NetnsPair::kSenderAddr), .counter = true, .quota = 1'000'000,
                     .verdict = NF_DROP});  // 2
  ASSERT_EQ(submit(b), 0);
  ASSERT_EQ(from_blocked(), 0);
  ASSERT_EQ(hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0).value_or(codegen::abi::Counter{}).packets,
            uint64_t(kPackets));
  std::vector<uint8_t> req(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(req.data()), NFT_MSG_GETRULE_RESET, NFPROTO_IPV4,
                                        NLM_F_DUMP, 7);
  mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "t");
  req.resize(nlh->nlmsg_len);
  std::vector<nfnl::Message> replies;
  NoMulticast mc;
  nfnl::Peer peer{.portid = 100, .pid = 100, .comm = "nft", .cap_net_admin = true, .ext_ack = true};
  ASSERT_TRUE(ns_->in_receiver([&] { replies = proto_->handle(peer, req, mc); }));
  // The reply still shows the count: it was read before the reset.
  size_t rules = 0;
  for (const auto& m : replies) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
    if (NFNL_MSG_TYPE(h->nlmsg_type) != NFT_MSG_NEWRULE) continue;
    ++rules;
    nftnl_rule* r = nftnl_rule_alloc();
    ASSERT_EQ(nftnl_rule_nlmsg_parse(h, r), 0);
    char text[1024];
    nftnl_rule_snprintf(text, sizeof text, r, NFTNL_OUTPUT_DEFAULT, 0);
    nftnl_rule_free(r);
    EXPECT_NE(std::string(text).find("[ counter pkts " + std::to_string(kPackets) + " "), std::string::npos) << text;
    EXPECT_NE(std::string(text).find("[ quota bytes 1000000 consumed " + std::to_string(kPackets * (20 + 8 + kPayload)) + " "),
              std::string::npos) << text;
  }
  EXPECT_EQ(rules, 1u);
  auto c = hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->packets, 0u);
  EXPECT_EQ(c->bytes, 0u);
  EXPECT_EQ(hook_->rule_quota_used(NFPROTO_IPV4, "t", "in", 2, 0), std::optional<uint64_t>(0));
  ASSERT_EQ(from_blocked(), 0);
  c = hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->packets, uint64_t(kPackets));
}

TEST_F(OffloadSandbox, OnlyChangedChainsAreRecompiled) {
  NftBatch b;
  b.table(NFPROTO_IPV4, "t")
      .base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0)
      .base_chain(NFPROTO_IPV4, "t", "out", NF_INET_LOCAL_OUT, 0)
      .rule(NFPROTO_IPV4, "t", "out", RuleSpec{.saddr_be = addr_be("10.99.0.77"), .verdict = NF_DROP});
  ASSERT_EQ(submit(b), 0);
  EXPECT_EQ(hook_->stats().compiled, 2u);
  NftBatch more(10);
  more.rule(NFPROTO_IPV4, "t", "in", RuleSpec{.saddr_be = addr_be(NetnsPair::kSenderAddr), .verdict = NF_DROP});
  ASSERT_EQ(submit(more), 0);
  EXPECT_EQ(hook_->stats().compiled, 3u);
  EXPECT_EQ(hook_->stats().reused, 1u);
  EXPECT_EQ(from_blocked(), 0);
}

// Two tables' input chains at priority 0 share the IPv4 attach point in one program, in the
// kernel's order: the later registered chain (table u) runs first, so t's counter sees only what
// u accepted; a drop in either ends the hook.
TEST_F(OffloadSandbox, TwoBaseChainsAtOnePriorityRunInRegistrationOrder) {
  NftBatch first;
  first.table(NFPROTO_IPV4, "t")
      .base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0)         // handle 1
      .rule(NFPROTO_IPV4, "t", "in", RuleSpec{.counter = true});         // 2: counts what reaches t
  ASSERT_EQ(submit(first), 0);
  NftBatch other(10);
  other.table(NFPROTO_IPV4, "u")
      .base_chain(NFPROTO_IPV4, "u", "in2", NF_INET_LOCAL_IN, 0)        // 1
      .rule(NFPROTO_IPV4, "u", "in2", RuleSpec{.saddr_be = addr_be(NetnsPair::kSenderAddr), .counter = true,
                                               .verdict = NF_DROP});    // 2
  ASSERT_EQ(submit(other), 0);
  EXPECT_EQ(hook_->stats().attach_points, 1u);
  EXPECT_EQ(from_blocked(), 0);
  EXPECT_EQ(from_other(), kPackets);
  // u ran first: it dropped the blocked source's packets before t could count them.
  EXPECT_EQ(hook_->rule_counter(NFPROTO_IPV4, "u", "in2", 2, 0).value_or(codegen::abi::Counter{}).packets,
            uint64_t(kPackets));
  EXPECT_EQ(hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0).value_or(codegen::abi::Counter{}).packets,
            uint64_t(kPackets));
  // A rule added to the older table later does not change the order (registration is per chain).
  NftBatch more(20);
  more.rule(NFPROTO_IPV4, "t", "in", RuleSpec{.saddr_be = addr_be("10.99.0.77"), .verdict = NF_DROP});
  ASSERT_EQ(submit(more), 0);
  EXPECT_EQ(from_blocked(), 0);
  EXPECT_EQ(from_other(), kPackets);
  EXPECT_EQ(hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0).value_or(codegen::abi::Counter{}).packets,
            uint64_t(2 * kPackets));
  // Deleting u leaves t alone at the point.
  NftBatch del(30);
  del.del_table(NFPROTO_IPV4, "u");
  ASSERT_EQ(submit(del), 0);
  EXPECT_EQ(from_blocked(), kPackets);
  EXPECT_EQ(hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0).value_or(codegen::abi::Counter{}).packets,
            uint64_t(3 * kPackets));
}

// `ip t` and `inet t` (same name) at one hook and priority: the inet chain shares the IPv4 point
// with the ip chain (and has the IPv6 point alone); their counters stay apart.
TEST_F(OffloadSandbox, IpAndInetTablesOfOneNameShareTheIpv4Point) {
  NftBatch b;
  b.table(NFPROTO_IPV4, "t")
      .base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0)          // 1
      .rule(NFPROTO_IPV4, "t", "in", RuleSpec{.counter = true})           // 2
      .table(NFPROTO_INET, "t")
      .base_chain(NFPROTO_INET, "t", "in", NF_INET_LOCAL_IN, 0)          // 1
      .rule(NFPROTO_INET, "t", "in", RuleSpec{.saddr_be = addr_be(kOtherSender), .counter = true,
                                              .verdict = NF_DROP});       // 2
  ASSERT_EQ(submit(b), 0);
  EXPECT_EQ(hook_->stats().attach_points, 2u);  // IPv4 (both chains) and IPv6 (inet alone)
  EXPECT_EQ(from_other(), 0);
  EXPECT_EQ(from_blocked(), kPackets);
  // inet t (registered later) ran first and dropped kOtherSender's packets; ip t counted the rest.
  EXPECT_EQ(hook_->rule_counter(NFPROTO_INET, "t", "in", 2, 0).value_or(codegen::abi::Counter{}).packets,
            uint64_t(kPackets));
  EXPECT_EQ(hook_->rule_counter(NFPROTO_IPV4, "t", "in", 2, 0).value_or(codegen::abi::Counter{}).packets,
            uint64_t(kPackets));
}

TEST_F(OffloadSandbox, InetChainFiltersIpv4) {
  NftBatch b;
  b.table(NFPROTO_INET, "t")
      .base_chain(NFPROTO_INET, "t", "in", NF_INET_LOCAL_IN, 0)
      .rule(NFPROTO_INET, "t", "in", RuleSpec{.verdict = NF_DROP});
  ASSERT_EQ(submit(b), 0);
  EXPECT_EQ(hook_->stats().attach_points, 2u);  // IPv4 and IPv6
  EXPECT_EQ(from_other(), 0);
}

// inet ingress (NF_INET_INGRESS with a device) runs on TCX ingress of that device, IPv4 frames
// through the inet prologue.
TEST_F(OffloadSandbox, InetIngressRunsOnTcxOfItsDevice) {
  NftBatch b;
  b.table(NFPROTO_INET, "i")
      .base_chain(NFPROTO_INET, "i", "ing", NF_INET_INGRESS, 0, NF_ACCEPT, "filter", {"vb"})       // 1
      .rule(NFPROTO_INET, "i", "ing", RuleSpec{.saddr_be = addr_be(kOtherSender), .counter = true,
                                              .verdict = NF_DROP});                                  // 2
  ASSERT_EQ(submit(b), 0);
  EXPECT_EQ(hook_->stats().attach_points, 1u);
  EXPECT_EQ(from_other(), 0);
  EXPECT_EQ(from_blocked(), kPackets);
  EXPECT_EQ(hook_->rule_counter(NFPROTO_INET, "i", "ing", 2, 0).value_or(codegen::abi::Counter{}).packets,
            uint64_t(kPackets));
}

TEST_F(OffloadSandbox, NetdevIngressRunsOnTcxOfItsDevice) {
  NftBatch b;
  b.table(NFPROTO_NETDEV, "n")
      .base_chain(NFPROTO_NETDEV, "n", "ing", NF_NETDEV_INGRESS, 0, NF_ACCEPT, "filter", {"vb"})
      .rule(NFPROTO_NETDEV, "n", "ing", RuleSpec{.verdict = NF_DROP});
  ASSERT_EQ(submit(b), 0);
  EXPECT_EQ(from_other(), 0);
  NftBatch nosuch(10);
  nosuch.table(NFPROTO_NETDEV, "m")
      .base_chain(NFPROTO_NETDEV, "m", "ing", NF_NETDEV_INGRESS, 0, NF_ACCEPT, "filter", {"nosuch0"});
  EXPECT_NE(submit(nosuch), 0);
  EXPECT_EQ(from_other(), 0);
}

}  // namespace
}  // namespace nfbpf::offload
