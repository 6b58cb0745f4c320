// The conntrack anchor in a scratch receiver namespace: conntrack runs exactly while an anchor
// table exists (nf_conntrack_count grows with traffic only then), the table is the daemon's alone
// (owner flag: nft cannot delete it, `flush ruleset` leaves it), it outlives its owner when asked
// (persist) and a new anchor adopts it; accounting is switched on for ct bytes/packets.
#include "nfnl-server/offload/conntrack_anchor.h"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>

#include "codegen/kernel/testing/netns_pair.h"

namespace nfbpf::offload {
namespace {

using codegen::testing::NetnsPair;

constexpr uint16_t kPort = 5557;

class AnchorSandbox : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ns = NetnsPair::create();
    ASSERT_TRUE(ns) << ns.error().describe();
    ns_.emplace(std::move(*ns));
    Result<Fd> rx = fail(EINVAL, "not created"), tx = fail(EINVAL, "not created");
    ASSERT_TRUE(ns_->in_receiver([&] { rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
    ASSERT_TRUE(ns_->in_sender([&] { tx = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 0); }));
    ASSERT_TRUE(rx && tx);
    rx_ = std::move(*rx);
    tx_ = std::move(*tx);
  }

  // A sysctl of the receiver namespace.
  long receiver_sysctl(const char* name) {
    long v = -1;
    EXPECT_TRUE(ns_->in_receiver([&] {
      std::ifstream f(std::string("/proc/sys/net/netfilter/") + name);
      f >> v;
    }));
    return v;
  }

  // Sends one datagram from a fresh source port (a new connection) and drains the receiver.
  void new_flow() {
    Result<Fd> tx = fail(EINVAL, "not created");
    ASSERT_TRUE(ns_->in_sender([&] { tx = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 0); }));
    ASSERT_TRUE(tx);
    auto sent = codegen::testing::udp_send(*tx, NetnsPair::kReceiverAddr, kPort, 1, 20);
    ASSERT_TRUE(sent && *sent == 1);
    EXPECT_EQ(codegen::testing::udp_drain(rx_, 200), 1);
  }

  // Whether a new flow creates a conntrack entry in the receiver namespace now.
  bool tracking() {
    long before = receiver_sysctl("nf_conntrack_count");
    new_flow();
    return receiver_sysctl("nf_conntrack_count") > before;
  }

  bool anchor_listed(const char* family) {
    return ns_->run_in_receiver({"nft", "list", "table", family, kConntrackAnchorTable}).has_value();
  }

  Result<void> in_receiver(ConntrackAnchor& a, const ConntrackNeeds& n) {
    Result<void> r = fail(EINVAL, "not run");
    EXPECT_TRUE(ns_->in_receiver([&] { r = a.set(n); }));
    return r;
  }

  std::optional<NetnsPair> ns_;
  Fd rx_, tx_;
};

TEST_F(AnchorSandbox, ConntrackRunsExactlyWhileAnAnchorTableExists) {
  EXPECT_FALSE(tracking());
  {
    ConntrackAnchor a;
    auto r = in_receiver(a, ConntrackNeeds{.families = {ir::Family::kIp}});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_TRUE(anchor_listed("ip"));
    EXPECT_FALSE(anchor_listed("inet"));
    EXPECT_TRUE(tracking());
    // The same needs again: no netlink traffic, still tracking.
    ASSERT_TRUE(in_receiver(a, ConntrackNeeds{.families = {ir::Family::kIp}}));
    EXPECT_TRUE(tracking());
    // ip -> inet: the inet table's reference is taken before the ip one is dropped.
    ASSERT_TRUE(in_receiver(a, ConntrackNeeds{.families = {ir::Family::kInet}}));
    EXPECT_FALSE(anchor_listed("ip"));
    EXPECT_TRUE(anchor_listed("inet"));
    EXPECT_TRUE(tracking());
    ASSERT_TRUE(in_receiver(a, ConntrackNeeds{}));
    EXPECT_FALSE(anchor_listed("inet"));
    EXPECT_FALSE(tracking());
    ASSERT_TRUE(in_receiver(a, ConntrackNeeds{.families = {ir::Family::kIp6}}));
    EXPECT_TRUE(anchor_listed("ip6"));
    EXPECT_FALSE(tracking());  // IPv4 traffic: ip6 conntrack only
  }
  // Destroyed without keep_on_exit: the table is gone.
  EXPECT_FALSE(anchor_listed("ip6"));
}

TEST_F(AnchorSandbox, StageCommitAbortFollowTheTransaction) {
  ConntrackAnchor a;
  Result<void> r = fail(EINVAL, "not run");
  ASSERT_TRUE(ns_->in_receiver([&] { r = a.stage(ConntrackNeeds{.families = {ir::Family::kIp}}); }));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_TRUE(tracking());  // on before the new programs could run
  ASSERT_TRUE(ns_->in_receiver([&] { a.abort(); }));
  EXPECT_FALSE(anchor_listed("ip"));
  EXPECT_FALSE(tracking());
  ASSERT_TRUE(ns_->in_receiver([&] { r = a.stage(ConntrackNeeds{.families = {ir::Family::kIp}}); }));
  ASSERT_TRUE(ns_->in_receiver([&] { a.commit(); }));
  EXPECT_TRUE(tracking());
  // A batch that needs inet instead: both while staged, only inet once committed.
  ASSERT_TRUE(ns_->in_receiver([&] { r = a.stage(ConntrackNeeds{.families = {ir::Family::kInet}}); }));
  EXPECT_TRUE(anchor_listed("ip"));
  EXPECT_TRUE(anchor_listed("inet"));
  ASSERT_TRUE(ns_->in_receiver([&] { a.commit(); }));
  EXPECT_FALSE(anchor_listed("ip"));
  EXPECT_TRUE(anchor_listed("inet"));
  EXPECT_EQ(a.committed(), ConntrackNeeds{.families = {ir::Family::kInet}});
  ASSERT_TRUE(ns_->in_receiver([&] { a.commit(); }));  // an empty commit keeps it
  EXPECT_TRUE(anchor_listed("inet"));
}

TEST_F(AnchorSandbox, OthersCannotRemoveItAndItSurvivesItsOwnerWhenAsked) {
  {
    ConntrackAnchor a;
    ASSERT_TRUE(in_receiver(a, ConntrackNeeds{.families = {ir::Family::kIp}}));
    EXPECT_FALSE(ns_->run_in_receiver({"nft", "delete", "table", "ip", kConntrackAnchorTable}));  // EPERM
    EXPECT_TRUE(ns_->run_in_receiver({"nft", "flush", "ruleset"}));
    EXPECT_TRUE(anchor_listed("ip"));
    EXPECT_TRUE(tracking());
    a.keep_on_exit();  // as a crash would: the socket closes, the table stays (persist)
  }
  EXPECT_TRUE(anchor_listed("ip"));
  EXPECT_TRUE(tracking());
  {
    ConntrackAnchor b;  // a restarted daemon adopts the orphan and rewrites its rules
    auto r = in_receiver(b, ConntrackNeeds{.families = {ir::Family::kIp}, .accounting = true});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_TRUE(tracking());
    EXPECT_EQ(receiver_sysctl("nf_conntrack_acct"), 1);  // nft_ct_get_init's nf_ct_set_acct
    EXPECT_FALSE(ns_->run_in_receiver({"nft", "delete", "table", "ip", kConntrackAnchorTable}));
    ASSERT_TRUE(in_receiver(b, ConntrackNeeds{}));
  }
  EXPECT_FALSE(anchor_listed("ip"));
  EXPECT_FALSE(tracking());
}

TEST(ConntrackNeedsTest, EveryCtLoadInAnyChainOfAnIpTableCounts) {
  auto ct = [](ir::CtKey k) {
    return ir::Field{.base = ir::Base::kCt, .len = 4, .key = static_cast<uint8_t>(k), .host_order = true};
  };
  ir::Rule state{.handle = 1, .steps = {ir::Match{.key = {ct(ir::CtKey::kState)}, .value = {2, 0, 0, 0}}}};
  ir::Rule bytes{.handle = 2,
                 .steps = {ir::RegisterBlock{.ops = {ir::reg::Load{4, ct(ir::CtKey::kBytes)}}}}};
  ir::Rule plain{.handle = 3, .steps = {ir::Counter{}}};
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kIp, .name = "a",
                                .chains = {ir::Chain{.name = "regular", .rules = {state}}}});
  rs.tables.push_back(ir::Table{.family = ir::Family::kIp6, .name = "b", .chains = {ir::Chain{.name = "c", .rules = {plain}}}});
  rs.tables.push_back(ir::Table{.family = ir::Family::kNetdev, .name = "n", .chains = {ir::Chain{.name = "c", .rules = {state}}}});
  EXPECT_EQ(conntrack_needs(rs), ConntrackNeeds{.families = {ir::Family::kIp}});
  rs.tables[1].chains[0].rules.push_back(bytes);
  EXPECT_EQ(conntrack_needs(rs), (ConntrackNeeds{.families = {ir::Family::kIp, ir::Family::kIp6}, .accounting = true}));
  EXPECT_TRUE(conntrack_needs(ir::Ruleset{}).empty());
}

}  // namespace
}  // namespace nfbpf::offload
