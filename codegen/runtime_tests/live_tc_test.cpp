// Compiled netdev chains attached at tc (tcx through the runtime dispatcher) in a scratch
// namespace pair joined by veth: what test runs cannot show — the device names of real
// interfaces as the sk_buff carries them.
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

// meta iifname at tc ingress and oifname at tc egress read the sk_buff's device name (through
// bpf_cast_to_kern_ctx): the receiver's veth "vb" matches, "va" (the sender's) does not. Egress is
// checked on the sender's side (the datagrams leave through "va").
TEST(LiveTc, DeviceNamesAtIngressAndEgress) {
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
  // netdev table: `meta <key> "<name>" udp dport 5000 counter drop`.
  auto table = [](KnownField key, const char* name, ir::Hook hook) {
    // Named by hook and device: counter slots are keyed by table.
    ir::Table t{.family = ir::Family::kNetdev, .name = std::string(hook == ir::Hook::kIngress ? "in_" : "out_") + name};
    ir::Chain c{.name = "in", .handle = 1, .base = ir::BaseHook{.hook = hook}, .policy = ir::VerdictKind::kAccept};
    ir::Rule r{.handle = 2, .verdict = b::drop()};
    r.steps.push_back(b::eq(key, b::ifname(name)));
    r.steps.push_back(b::eq(KnownField::kMetaL4Proto, b::u8(17)));
    r.steps.push_back(b::eq(KnownField::kUdpDport, b::be16(kPort)));
    r.steps.emplace_back(ir::Counter{});
    c.rules.push_back(std::move(r));
    t.chains.push_back(std::move(c));
    return t;
  };
  struct Side {
    Flavor f;
    bool receiver;
    KnownField key;
  };
  for (Side side : {Side{Flavor::kTcxIngress, true, KnownField::kMetaIifName}, Side{Flavor::kTcxEgress, false, KnownField::kMetaOifName}}) {
    const auto& ops = flavor::flavor_ops(side.f);
    auto d = runtime::Dispatcher::create(k, side.f, ops.accept);
    ASSERT_TRUE(d.has_value()) << d.error().describe();
    Result<void> a = fail(EINVAL, "unset");
    auto attach = [&] { a = d->attach(flavor::AttachPoint::tcx(side.f, side.receiver ? ns->receiver_ifindex() : ns->sender_ifindex())); };
    ASSERT_TRUE(side.receiver ? ns->in_receiver(attach) : ns->in_sender(attach));
    ASSERT_TRUE(a.has_value()) << a.error().describe();
    const char* own = side.receiver ? "vb" : "va";
    const char* other = side.receiver ? "va" : "vb";
    ir::Table hit = table(side.key, own, side.receiver ? ir::Hook::kIngress : ir::Hook::kEgress);
    ir::Table miss = table(side.key, other, hit.chains[0].base->hook);
    auto ch = chain::compile_chain(hit, hit.chains[0], side.f, rt->options());
    ASSERT_TRUE(ch.has_value()) << ch.error().describe();
    auto lh = chain::load_chain(k, *ch, *rt);
    ASSERT_TRUE(lh.has_value()) << lh.error().describe();
    auto cm = chain::compile_chain(miss, miss.chains[0], side.f, rt->options());
    ASSERT_TRUE(cm.has_value()) << cm.error().describe();
    auto lm = chain::load_chain(k, *cm, *rt);
    ASSERT_TRUE(lm.has_value()) << lm.error().describe();
    ASSERT_TRUE(d->install(lm->prog).has_value());
    EXPECT_EQ(send(5), 5) << flavor::flavor_name(side.f) << ": " << other;
    ASSERT_TRUE(d->install(lh->prog).has_value());
    EXPECT_EQ(send(7), 0) << flavor::flavor_name(side.f) << ": " << own;
    EXPECT_EQ(rt->counters.read(ch->counters.at(0).slot)->packets, 7u) << flavor::flavor_name(side.f);
    EXPECT_EQ(rt->counters.read(cm->counters.at(0).slot)->packets, 0u) << flavor::flavor_name(side.f);
    ASSERT_TRUE(d->clear().has_value());
  }
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
