// translate/passes/prune_rules under BPF: random chains (fixed seed) compiled as written and
// pruned give every packet the same verdict (and the evaluator's), and every rule's counter slot
// the same count — a removed rule has no slot, and its slot in the unpruned program stays 0.
#include <gtest/gtest.h>

#include <random>

#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"
#include "translate/ir/build.h"
#include "translate/ir/test_fixtures.h"
#include "translate/passes/prune_rules.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;
using ir::testing::dotted;
using ir::testing::rule;

constexpr uint32_t kNet = 0x0a000000;

// Packets sent to reach every count (so order effects show).
uint64_t count_of(const ChainRun& run, chain::RuntimeTables& rt, uint64_t handle) {
  uint64_t n = 0;
  for (const auto& u : run.compiled().counters)
    if (u.key.handle == handle) n += rt.counters.read(u.slot)->packets;
  return n;
}

TEST(PruneRulesBpf, RandomChainsKeepVerdictsAndCountersUnderBpf) {
  std::mt19937 rng(4242);  // fixed seed: deterministic
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  const std::vector<ir::Match> pool = {b::eq(KnownField::kIp4Saddr, b::be32(kNet + 1)),
                                       b::eq(KnownField::kMetaL4Proto, b::u8(6)),
                                       b::eq(KnownField::kTcpDport, b::be16(22))};
  auto random_match = [&]() -> ir::Match {
    if (pick(2)) return pool[pick(static_cast<uint32_t>(pool.size()))];
    switch (pick(5)) {
      case 0: return b::eq(KnownField::kIp4Saddr, b::be32(kNet + pick(4)));
      case 1: return b::prefix(KnownField::kIp4Saddr, b::be32(kNet + (pick(2) << 1)), 31);
      case 2: return b::eq(KnownField::kMetaL4Proto, b::u8(pick(2) ? 6 : 17));
      case 3: return b::cmp(KnownField::kTcpDport, static_cast<ir::Op>(pick(6)), b::be16(uint16_t(20 + pick(4))));
      default: return b::range(KnownField::kTcpDport, b::be16(uint16_t(20 + pick(4))), b::be16(uint16_t(20 + pick(4))));
    }
  };
  kernel::LinuxKernel k;
  size_t removed = 0, packets = 0;
  for (int round = 0; round < 25; ++round) {
    std::vector<ir::Rule> rules;
    for (uint64_t h = 1; h <= 12; ++h) {
      std::vector<ir::Step> steps;
      if (pick(8) == 0) steps.push_back(ir::Counter{});
      for (uint32_t i = 0, n = pick(4); i < n; ++i) steps.push_back(random_match());
      steps.push_back(ir::Counter{});
      ir::Verdict v;
      switch (pick(6)) {
        case 0: v = b::accept(); break;
        case 1: v = b::drop(); break;
        case 2: v = b::jump("sub"); break;
        case 3: v = b::ret(); break;
        default: break;
      }
      rules.push_back(rule(h, std::move(steps), v));
    }
    ir::Chain in{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput},
                 .policy = pick(2) ? ir::VerdictKind::kAccept : ir::VerdictKind::kDrop, .rules = std::move(rules)};
    ir::Chain sub{.name = "sub", .handle = 99,
                  .rules = {rule(50, {b::eq(KnownField::kIp4Saddr, b::be32(kNet + 2)), ir::Counter{}}, b::drop())}};
    ir::Table plain{.family = ir::Family::kIp, .name = "t", .chains = {std::move(in), std::move(sub)}};
    ir::Table pruned = plain;
    auto st = translate::passes::prune_rules(pruned);
    ASSERT_TRUE(st.has_value());
    removed += st->removed();
    auto rt1 = chain::RuntimeTables::create(k);
    auto rt2 = chain::RuntimeTables::create(k);
    ASSERT_TRUE(rt1.has_value() && rt2.has_value());
    auto a = ChainRun::create(k, *rt1, plain, "in", Flavor::kNetfilter);
    auto m = ChainRun::create(k, *rt2, pruned, "in", Flavor::kNetfilter);
    ASSERT_TRUE(a.has_value()) << a.error().describe();
    ASSERT_TRUE(m.has_value()) << m.error().describe();
    for (uint32_t src = 0; src < 4; ++src)
      for (uint16_t port = 19; port <= 24; ++port)
        for (bool udp : {false, true}) {
          Packet p = Packet::ipv4(dotted(kNet + src), "10.9.9.9");
          TestPacket tp{udp ? p.udp(1000, port).bytes() : p.tcp(1000, port).bytes(), 0, false};
          auto x = a->run_both(tp);
          auto y = m->run_both(tp);
          ASSERT_TRUE(x.has_value()) << x.error().describe();
          ASSERT_TRUE(y.has_value()) << y.error().describe();
          ASSERT_EQ(verdict_name(x->first), verdict_name(x->second)) << "round " << round << ": plain BPF vs evaluator";
          ASSERT_EQ(verdict_name(y->first), verdict_name(x->first)) << "round " << round << ": pruned BPF vs plain BPF";
          ++packets;
        }
    for (const ir::Chain& c : plain.chains)
      for (const ir::Rule& r : c.rules)
        ASSERT_EQ(count_of(*m, *rt2, r.handle), count_of(*a, *rt1, r.handle)) << "round " << round << " rule " << r.handle;
  }
  EXPECT_GT(removed, 50u);
  std::printf("25 random chains: %zu rules pruned, %zu packets, same verdicts and counters\n", removed, packets);
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
