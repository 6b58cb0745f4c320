#include "nfnl-server/offload/attach_plan.h"

#include <gtest/gtest.h>
#include <linux/netfilter.h>

namespace nfbpf::offload {
namespace {

namespace flavor = codegen::flavor;

ir::Chain base(std::string name, ir::Hook h, int32_t prio, ir::ChainType type = ir::ChainType::kFilter,
               std::vector<std::string> devices = {}) {
  return ir::Chain{.name = std::move(name), .base = ir::BaseHook{.hook = h, .priority = prio, .type = type, .devices = std::move(devices)}};
}

Result<int> fake_devices(const std::string& name) {
  if (name == "eth0") return 7;
  return failf(ENODEV, "device {} does not exist", name);
}

TEST(AttachPlan, InetChainRunsOnBothFamiliesAndRegularChainsNowhere) {
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kInet, .name = "t",
                                .chains = {base("in", ir::Hook::kInput, -5), ir::Chain{.name = "sub"}}});
  auto plan = plan_attachments(rs, fake_devices);
  ASSERT_TRUE(plan) << plan.error().describe();
  ASSERT_EQ(plan->size(), 1u);
  const ChainPlan& p = (*plan)[0];
  EXPECT_EQ(p.chain, "in");
  EXPECT_EQ(p.where, "inet t in");
  EXPECT_EQ(p.flavor, flavor::Flavor::kNetfilter);
  ASSERT_EQ(p.at.size(), 2u);
  EXPECT_EQ(p.at[0], (AttachKey{.pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_IN, .priority = -5}));
  EXPECT_EQ(p.at[1], (AttachKey{.pf = NFPROTO_IPV6, .hooknum = NF_INET_LOCAL_IN, .priority = -5}));
}

TEST(AttachPlan, NetdevChainsUseTcxOnEachDevice) {
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kNetdev, .name = "n",
                                .chains = {base("e", ir::Hook::kEgress, 0, ir::ChainType::kFilter, {"eth0"})}});
  auto plan = plan_attachments(rs, fake_devices);
  ASSERT_TRUE(plan) << plan.error().describe();
  ASSERT_EQ((*plan)[0].at.size(), 1u);
  EXPECT_EQ((*plan)[0].at[0], (AttachKey{.flavor = flavor::Flavor::kTcxEgress, .ifindex = 7}));
}

TEST(AttachPlan, MissingDeviceIsENODEVNamingTheChain) {
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kNetdev, .name = "n",
                                .chains = {base("i", ir::Hook::kIngress, 0, ir::ChainType::kFilter, {"nosuch"})}});
  auto plan = plan_attachments(rs, fake_devices);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().err, ENODEV);
  EXPECT_EQ(plan.error().describe(), "device nosuch does not exist (while chain netdev n i) [ENODEV]");
}

TEST(AttachPlan, NatChainsAreRefused) {
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kIp, .name = "nat",
                                .chains = {base("post", ir::Hook::kPostrouting, 100, ir::ChainType::kNat)}});
  auto plan = plan_attachments(rs, fake_devices);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().err, EOPNOTSUPP);
  EXPECT_NE(plan.error().msg.find("chain ip nat post: type nat is not offloaded"), std::string::npos);
}

// ip a in and inet b in share the IPv4 point; inet b in alone runs at IPv6. At the IPv4 point
// the later registered chain (b, registered 2) runs first.
TEST(AttachPlan, SharedAttachPointRunsTheLaterRegisteredChainFirst) {
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kIp, .name = "a", .chains = {base("in", ir::Hook::kInput, 0)}});
  rs.tables.push_back(ir::Table{.family = ir::Family::kInet, .name = "b", .chains = {base("in", ir::Hook::kInput, 0)}});
  auto plan = plan_attachments(rs, fake_devices);
  ASSERT_TRUE(plan) << plan.error().describe();
  ASSERT_EQ(plan->size(), 2u);
  auto hooks = plan_hooks(*plan, [](size_t i) { return uint64_t(i + 1); });
  ASSERT_EQ(hooks.size(), 2u);
  EXPECT_EQ(hooks[0].at, (AttachKey{.pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_IN, .priority = 0}));
  EXPECT_EQ(hooks[0].chains, (std::vector<size_t>{1, 0}));
  EXPECT_EQ(hooks[1].at, (AttachKey{.pf = NFPROTO_IPV6, .hooknum = NF_INET_LOCAL_IN, .priority = 0}));
  EXPECT_EQ(hooks[1].chains, (std::vector<size_t>{1}));
  // Registered the other way round (a re-registered later, e.g. woken from dormant): a first.
  hooks = plan_hooks(*plan, [](size_t i) { return uint64_t(10 - i); });
  EXPECT_EQ(hooks[0].chains, (std::vector<size_t>{0, 1}));
}

// netdev chains on one device share the TCX point: lower priority first, whatever the order of
// registration.
TEST(AttachPlan, NetdevChainsOnOneDeviceRunByPriority) {
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kNetdev, .name = "n",
                                .chains = {base("late", ir::Hook::kIngress, 10, ir::ChainType::kFilter, {"eth0"}),
                                           base("early", ir::Hook::kIngress, -10, ir::ChainType::kFilter, {"eth0"})}});
  auto plan = plan_attachments(rs, fake_devices);
  ASSERT_TRUE(plan) << plan.error().describe();
  auto hooks = plan_hooks(*plan, [](size_t i) { return uint64_t(i); });
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].chains, (std::vector<size_t>{1, 0}));
}

TEST(AttachPlan, InetIngressRunsOnTcxAndIsNotMixedWithNetdev) {
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kInet, .name = "i",
                                .chains = {base("ing", ir::Hook::kIngress, 0, ir::ChainType::kFilter, {"eth0"})}});
  auto plan = plan_attachments(rs, fake_devices);
  ASSERT_TRUE(plan) << plan.error().describe();
  ASSERT_EQ((*plan)[0].at.size(), 1u);
  EXPECT_EQ((*plan)[0].flavor, flavor::Flavor::kTcxIngress);
  EXPECT_EQ((*plan)[0].at[0], (AttachKey{.flavor = flavor::Flavor::kTcxIngress, .ifindex = 7}));
  rs.tables.push_back(ir::Table{.family = ir::Family::kNetdev, .name = "n",
                                .chains = {base("ing", ir::Hook::kIngress, 0, ir::ChainType::kFilter, {"eth0"})}});
  plan = plan_attachments(rs, fake_devices);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().err, EOPNOTSUPP);
  EXPECT_NE(plan.error().msg.find("chains netdev n ing and inet i ing both run at tcx_ingress ifindex 7"), std::string::npos)
      << plan.error().msg;
}

TEST(AttachPlan, DormantTablesAreSkipped) {
  ir::Ruleset rs;
  rs.tables.push_back(ir::Table{.family = ir::Family::kIp, .name = "a", .flags = 1, .chains = {base("in", ir::Hook::kInput, 0)}});
  rs.tables.push_back(ir::Table{.family = ir::Family::kIp, .name = "b", .chains = {base("in", ir::Hook::kInput, 0)}});
  auto plan = plan_attachments(rs, fake_devices);
  ASSERT_TRUE(plan) << plan.error().describe();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].where, "ip b in");
}

}  // namespace
}  // namespace nfbpf::offload
