// Compiled chains attached for real (netfilter LOCAL_IN in a scratch namespace pair joined by
// veth, through the runtime dispatcher): what test runs cannot show — the input device's name
// and index as the hook state carries them, counters fed by real traffic, and an atomic swap to a
// recompiled chain keeping its counter slots.
#include <netinet/in.h>
#include <linux/netfilter.h>

#include <gtest/gtest.h>

#include "codegen/kernel/testing/netns_pair.h"
#include "codegen/runtime/dispatcher.h"
#include "codegen/runtime_tests/harness.h"
#include "translate/ir/build.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using codegen::testing::NetnsPair;
using ir::KnownField;
namespace b = ir::build;

constexpr uint16_t kPort = 5000;

ir::Table input_table(std::vector<ir::Step> steps) {
  ir::Table t{.family = ir::Family::kInet, .name = "t"};
  ir::Chain c{.name = "in", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = ir::VerdictKind::kAccept};
  steps.push_back(b::eq(KnownField::kMetaL4Proto, b::u8(17)));
  steps.push_back(b::eq(KnownField::kUdpDport, b::be16(kPort)));
  steps.push_back(ir::Counter{});
  c.rules.push_back(ir::Rule{.handle = 2, .steps = std::move(steps), .verdict = b::drop()});
  t.chains.push_back(c);
  return t;
}

TEST(LiveNetfilter, DeviceMatchesCountersAndSwap) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  auto ns = NetnsPair::create();
  ASSERT_TRUE(ns.has_value()) << ns.error().describe();
  Result<Fd> rx = fail(EINVAL, "unset"), tx = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
  ASSERT_TRUE(ns->in_sender([&] { tx = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 0); }));
  ASSERT_TRUE(rx && tx);
  auto send = [&](int n) {
    EXPECT_TRUE(codegen::testing::udp_send(*tx, NetnsPair::kReceiverAddr, kPort, n, 32).has_value());
    return codegen::testing::udp_drain(*rx, 200);
  };

  auto d = runtime::Dispatcher::create(k, Flavor::kNetfilter, NF_ACCEPT);
  ASSERT_TRUE(d.has_value()) << d.error().describe();
  Result<void> a = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { a = d->attach(flavor::AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 0)); }));
  ASSERT_TRUE(a.has_value()) << a.error().describe();

  // iifname "vb" (the receiver's veth): dropped and counted.
  ir::Table by_name = input_table({b::eq(KnownField::kMetaIifName, b::ifname("vb"))});
  auto c1 = chain::compile_chain(by_name, by_name.chains[0], Flavor::kNetfilter, rt->options());
  ASSERT_TRUE(c1.has_value()) << c1.error().describe();
  auto l1 = chain::load_chain(k, *c1, *rt);
  ASSERT_TRUE(l1.has_value()) << l1.error().describe();
  ASSERT_TRUE(d->install(l1->prog).has_value());
  EXPECT_EQ(send(20), 0);
  uint32_t slot = c1->counters.at(0).slot;
  EXPECT_EQ(rt->counters.read(slot)->packets, 20u);
  EXPECT_EQ(rt->counters.read(slot)->bytes, 20u * (20 + 8 + 32));

  // iifname "v+" (iptables' wildcard: a mask over the leading byte) still matches; the same
  // rule handle keeps its counter slot across the recompile and the swap.
  ir::Table wildcard = input_table({ir::Match{.key = {ir::known_field(KnownField::kMetaIifName)},
                                              .mask = b::prefix_mask(16, 8), .op = ir::Op::kEq, .value = b::ifname("v")}});
  auto c2 = chain::compile_chain(wildcard, wildcard.chains[0], Flavor::kNetfilter, rt->options());
  ASSERT_TRUE(c2.has_value()) << c2.error().describe();
  EXPECT_EQ(c2->counters.at(0).slot, slot);
  EXPECT_FALSE(c2->counters.at(0).fresh);
  auto l2 = chain::load_chain(k, *c2, *rt);
  ASSERT_TRUE(l2.has_value()) << l2.error().describe();
  ASSERT_TRUE(d->install(l2->prog).has_value());
  EXPECT_EQ(send(10), 0);
  EXPECT_EQ(rt->counters.read(slot)->packets, 30u);

  // Another name, and the input index of the other side's device: no match.
  for (auto steps : {std::vector<ir::Step>{b::eq(KnownField::kMetaIifName, b::ifname("va"))},
                     std::vector<ir::Step>{b::eq(KnownField::kMetaIif, b::host32(static_cast<uint32_t>(ns->receiver_ifindex() + 1000)))}}) {
    ir::Table t = input_table(steps);
    auto c = chain::compile_chain(t, t.chains[0], Flavor::kNetfilter, rt->options());
    ASSERT_TRUE(c.has_value()) << c.error().describe();
    auto l = chain::load_chain(k, *c, *rt);
    ASSERT_TRUE(l.has_value()) << l.error().describe();
    ASSERT_TRUE(d->install(l->prog).has_value());
    EXPECT_EQ(send(10), 10);
  }
  // The receiver's real ifindex: match.
  ir::Table by_index = input_table({b::eq(KnownField::kMetaIif, b::host32(static_cast<uint32_t>(ns->receiver_ifindex())))});
  auto c3 = chain::compile_chain(by_index, by_index.chains[0], Flavor::kNetfilter, rt->options());
  ASSERT_TRUE(c3.has_value());
  auto l3 = chain::load_chain(k, *c3, *rt);
  ASSERT_TRUE(l3.has_value()) << l3.error().describe();
  ASSERT_TRUE(d->install(l3->prog).has_value());
  EXPECT_EQ(send(10), 0);
  EXPECT_EQ(rt->counters.read(slot)->packets, 40u);
}

// Real traffic reaching the policy is counted in the chain's policy slot; a recompiled chain
// swapped in through the dispatcher keeps the slot and goes on counting, also when the new
// policy drops.
TEST(LiveNetfilter, PolicyCounterSurvivesRecompileAndSwap) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  auto ns = NetnsPair::create();
  ASSERT_TRUE(ns.has_value()) << ns.error().describe();
  Result<Fd> rx = fail(EINVAL, "unset"), tx = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
  ASSERT_TRUE(ns->in_sender([&] { tx = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 0); }));
  ASSERT_TRUE(rx && tx);
  auto send = [&](int n) {
    EXPECT_TRUE(codegen::testing::udp_send(*tx, NetnsPair::kReceiverAddr, kPort, n, 32).has_value());
    return codegen::testing::udp_drain(*rx, 200);
  };
  auto d = runtime::Dispatcher::create(k, Flavor::kNetfilter, NF_ACCEPT);
  ASSERT_TRUE(d.has_value()) << d.error().describe();
  Result<void> a = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { a = d->attach(flavor::AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 0)); }));
  ASSERT_TRUE(a.has_value()) << a.error().describe();

  // Rules that never match this traffic (another port): every datagram reaches the policy.
  auto make = [&](ir::VerdictKind policy, std::vector<uint16_t> ports) {
    ir::Table t{.family = ir::Family::kIp, .name = "t"};
    ir::Chain c{.name = "in", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = policy};
    uint64_t h = 2;
    for (uint16_t port : ports)
      c.rules.push_back(ir::Rule{.handle = h++, .steps = {b::eq(KnownField::kUdpDport, b::be16(port))}, .verdict = b::drop()});
    t.chains.push_back(c);
    return t;
  };
  constexpr uint64_t kBytes = 20 + 8 + 32;
  ir::Table t1 = make(ir::VerdictKind::kAccept, {kPort + 1});
  auto c1 = chain::compile_chain(t1, t1.chains[0], Flavor::kNetfilter, rt->options());
  ASSERT_TRUE(c1.has_value()) << c1.error().describe();
  ASSERT_EQ(c1->policy_counters.size(), 1u);
  uint32_t slot = c1->policy_counters[0].slot;
  auto l1 = chain::load_chain(k, *c1, *rt);
  ASSERT_TRUE(l1.has_value()) << l1.error().describe();
  ASSERT_TRUE(d->install(l1->prog).has_value());
  EXPECT_EQ(send(20), 20);
  EXPECT_EQ(rt->counters.read(slot)->packets, 20u);
  EXPECT_EQ(rt->counters.read(slot)->bytes, 20u * kBytes);

  // A rule added: recompiled, swapped; the policy slot and its count carry over.
  ir::Table t2 = make(ir::VerdictKind::kAccept, {kPort + 1, kPort + 2});
  auto c2 = chain::compile_chain(t2, t2.chains[0], Flavor::kNetfilter, rt->options());
  ASSERT_TRUE(c2.has_value()) << c2.error().describe();
  ASSERT_EQ(c2->policy_counters.size(), 1u);
  EXPECT_EQ(c2->policy_counters[0].slot, slot);
  EXPECT_FALSE(c2->policy_counters[0].fresh);
  auto l2 = chain::load_chain(k, *c2, *rt);
  ASSERT_TRUE(l2.has_value()) << l2.error().describe();
  ASSERT_TRUE(d->install(l2->prog).has_value());
  { chain::LoadedChain gone = std::move(*l1); }  // the old program closed; its count stays
  EXPECT_EQ(send(10), 10);
  EXPECT_EQ(rt->counters.read(slot)->packets, 30u);
  EXPECT_EQ(rt->counters.read(slot)->bytes, 30u * kBytes);

  // The policy turned to drop: the datagrams are dropped and still counted.
  ir::Table t3 = make(ir::VerdictKind::kDrop, {kPort + 1, kPort + 2});
  auto c3 = chain::compile_chain(t3, t3.chains[0], Flavor::kNetfilter, rt->options());
  ASSERT_TRUE(c3.has_value()) << c3.error().describe();
  EXPECT_EQ(c3->policy_counters.at(0).slot, slot);
  auto l3 = chain::load_chain(k, *c3, *rt);
  ASSERT_TRUE(l3.has_value()) << l3.error().describe();
  ASSERT_TRUE(d->install(l3->prog).has_value());
  EXPECT_EQ(send(5), 0);
  EXPECT_EQ(rt->counters.read(slot)->packets, 35u);
  EXPECT_EQ(rt->counters.read(slot)->bytes, 35u * kBytes);
}

// ct state from skb->_nfct with conntrack running: a kernel table that uses ct (in the scratch
// receiver namespace only) switches conntrack on there; a UDP flow is new until the receiver
// answers, established afterwards. (Our link sits at priority 10: a netfilter BPF link at the same
// hook and priority as a kernel nft base chain gets EBUSY too.)
TEST(LiveNetfilter, CtStateWithConntrackRunning) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  ASSERT_TRUE(rt->nfct_offset.has_value());
  auto ns = NetnsPair::create();
  ASSERT_TRUE(ns.has_value()) << ns.error().describe();
  auto nft = ns->run_in_receiver({"nft", "add table ip ctx; add chain ip ctx c { type filter hook input priority 0; }; "
                                         "add rule ip ctx c ct state invalid counter"});
  ASSERT_TRUE(nft.has_value()) << nft.error().describe();
  Result<Fd> rx = fail(EINVAL, "unset"), tx = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
  ASSERT_TRUE(ns->in_sender([&] { tx = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 6000); }));
  ASSERT_TRUE(rx && tx);

  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  ir::Chain c{.name = "in", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = ir::VerdictKind::kAccept};
  auto state_rule = [](uint64_t h, uint32_t bits) {
    return ir::Rule{.handle = h,
                    .steps = {ir::Match{.key = {ir::known_field(KnownField::kCtState)}, .mask = b::host32(bits), .op = ir::Op::kNe,
                                        .value = b::host32(0)},
                              b::eq(KnownField::kUdpDport, b::be16(kPort)), ir::Counter{}},
                    .verdict = b::accept()};
  };
  c.rules.push_back(state_rule(2, 8));  // new
  c.rules.push_back(state_rule(3, 2));  // established
  c.rules.push_back(state_rule(4, 1));  // invalid
  t.chains.push_back(c);
  auto cc = chain::compile_chain(t, t.chains[0], Flavor::kNetfilter, rt->options());
  ASSERT_TRUE(cc.has_value()) << cc.error().describe();
  auto l = chain::load_chain(k, *cc, *rt);
  ASSERT_TRUE(l.has_value()) << l.error().describe();
  auto d = runtime::Dispatcher::create(k, Flavor::kNetfilter, NF_ACCEPT);
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->install(l->prog).has_value());
  Result<void> a = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { a = d->attach(flavor::AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 10)); }));
  ASSERT_TRUE(a.has_value()) << a.error().describe();

  auto count = [&](size_t i) { return rt->counters.read(cc->counters.at(i).slot)->packets; };
  ASSERT_TRUE(codegen::testing::udp_send(*tx, NetnsPair::kReceiverAddr, kPort, 2, 16).has_value());
  EXPECT_EQ(codegen::testing::udp_drain(*rx, 200), 2);
  EXPECT_EQ(count(0), 2u);  // new (no reply yet)
  EXPECT_EQ(count(1), 0u);
  // The receiver answers: the flow is established from now on.
  Result<int> back = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { back = codegen::testing::udp_send(*rx, NetnsPair::kSenderAddr, 6000, 1, 16); }));
  ASSERT_TRUE(back.has_value());
  ASSERT_TRUE(codegen::testing::udp_send(*tx, NetnsPair::kReceiverAddr, kPort, 3, 16).has_value());
  EXPECT_EQ(codegen::testing::udp_drain(*rx, 200), 3);
  EXPECT_EQ(count(0), 2u);
  EXPECT_EQ(count(1), 3u);  // established
  EXPECT_EQ(count(2), 0u);
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
