// translate/passes/merge_runs under BPF: a chain with runs (exact addresses, prefixes, ports
// behind a protocol guard, verdict changes between runs, a jump with distinct values) compiled
// as written and merged must give every packet the same verdict, and both the evaluator's.
#include <gtest/gtest.h>

#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"
#include "translate/ir/build.h"
#include "translate/ir/test_fixtures.h"
#include "translate/passes/merge_runs.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;
using ir::testing::dotted;
using ir::testing::rule;

constexpr uint32_t kBase = 0xac100000;  // 172.16.0.0

// inet input chain "in": runs of 6+ rules each, so min_run = 4 merges them all.
ir::Table runs_table() {
  std::vector<ir::Rule> rules;
  uint64_t h = 1;
  auto v4 = [] { return b::eq(KnownField::kMetaNfProto, b::u8(2)); };
  auto saddr = [&](uint32_t a) { return b::eq(KnownField::kIp4Saddr, b::be32(a)); };
  for (uint32_t i = 0; i < 8; ++i) rules.push_back(rule(h++, {v4(), saddr(kBase + i)}, b::drop()));
  for (uint32_t i = 4; i < 12; ++i) rules.push_back(rule(h++, {v4(), saddr(kBase + i)}, b::accept()));  // 4..7 shadowed
  for (uint32_t i = 0; i < 6; ++i)  // prefixes of different lengths, nested and not
    rules.push_back(rule(h++, {v4(), b::prefix(KnownField::kIp4Saddr, b::be32(kBase + 0x100 + (i << 4)), i == 0 ? 23 : 28)},
                         b::drop()));
  for (uint16_t p = 0; p < 6; ++p)
    rules.push_back(rule(h++, {b::eq(KnownField::kMetaL4Proto, b::u8(6)), b::eq(KnownField::kTcpDport, b::be16(2000 + p))},
                         b::accept()));
  for (uint32_t i = 0; i < 6; ++i) rules.push_back(rule(h++, {v4(), saddr(kBase + 0x200 + i)}, b::jump("sub")));
  rules.push_back(rule(h++, {b::eq(KnownField::kMetaL4Proto, b::u8(17))}, b::drop()));
  ir::Chain in{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = ir::VerdictKind::kAccept,
               .rules = std::move(rules)};
  // sub: accept TCP, return the rest (so jumped-to UDP goes on to the UDP drop).
  ir::Chain sub{.name = "sub", .handle = 99, .rules = {rule(100, {b::eq(KnownField::kMetaL4Proto, b::u8(6))}, b::accept())}};
  return ir::Table{.family = ir::Family::kInet, .name = "t", .chains = {std::move(in), std::move(sub)}};
}

std::vector<TestPacket> packets() {
  std::vector<TestPacket> out;
  std::vector<uint32_t> srcs;
  for (uint32_t i = 0; i < 14; ++i) srcs.push_back(kBase + i);
  for (uint32_t i = 0; i < 0x70; i += 7) srcs.push_back(kBase + 0x100 + i);
  srcs.push_back(kBase + 0x1ff);
  srcs.push_back(kBase + 0x202);
  srcs.push_back(kBase + 0x207);
  srcs.push_back(0x0a580101);
  for (uint32_t s : srcs)
    for (uint16_t port : {uint16_t{80}, uint16_t{2003}, uint16_t{2006}}) {
      out.push_back(TestPacket{Packet::ipv4(dotted(s), "10.88.1.2").tcp(1000, port).bytes(), 0, false});
      out.push_back(TestPacket{Packet::ipv4(dotted(s), "10.88.1.2").udp(1000, port).bytes(), 0, false});
    }
  out.push_back(TestPacket{Packet::ipv6("2001:db8::1", "2001:db8::2").tcp(1, 2003).bytes(), 0, true});
  return out;
}

TEST(MergeRunsBpf, MergedChainGivesEveryPacketTheSameVerdict) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  ir::Table plain = runs_table();
  ir::Table merged = runs_table();
  auto st = translate::passes::merge_runs(merged, {.min_run = 4});
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->runs, 5u);
  EXPECT_EQ(merged.chains[0].rules.size(), 6u);  // five lookups and the UDP drop
  auto a = ChainRun::create(k, *rt, plain, "in", Flavor::kNetfilter);
  auto m = ChainRun::create(k, *rt, merged, "in", Flavor::kNetfilter);
  ASSERT_TRUE(a.has_value()) << a.error().describe();
  ASSERT_TRUE(m.has_value()) << m.error().describe();
  EXPECT_LT(m->compiled().program.insns().size(), a->compiled().program.insns().size());
  int drops = 0, accepts = 0;
  for (const TestPacket& p : packets()) {
    auto x = a->run_both(p);
    auto y = m->run_both(p);
    ASSERT_TRUE(x.has_value()) << x.error().describe();
    ASSERT_TRUE(y.has_value()) << y.error().describe();
    EXPECT_EQ(verdict_name(x->first), verdict_name(x->second)) << "unmerged BPF vs evaluator";
    EXPECT_EQ(verdict_name(y->first), verdict_name(x->first)) << "merged BPF vs unmerged BPF";
    EXPECT_EQ(verdict_name(y->second), verdict_name(x->second)) << "merged vs unmerged, evaluator";
    (x->first == ir::VerdictKind::kDrop ? drops : accepts)++;
  }
  EXPECT_GT(drops, 10);
  EXPECT_GT(accepts, 10);
}

// Counting runs: each rule's own counter slot counts the packets that rule decided, merged or
// not (two runtime tables, so the two programs do not share slots).
TEST(MergeRunsBpf, MergedCountingRunKeepsPerRuleCounters) {
  std::vector<ir::Rule> rules;
  uint64_t h = 10;
  for (uint32_t i = 0; i < 8; ++i)  // rule 10+3 repeats 10+1's address: it never counts
    rules.push_back(rule(h++, {b::eq(KnownField::kIp4Saddr, b::be32(kBase + (i == 3 ? 1 : i))), ir::Counter{}}, b::drop()));
  ir::Chain in{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .rules = std::move(rules)};
  ir::Table plain{.family = ir::Family::kIp, .name = "t", .chains = {std::move(in)}};
  ir::Table merged = plain;
  auto st = translate::passes::merge_runs(merged, {.min_run = 4});
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(st->runs, 1u);
  ASSERT_TRUE(merged.chains[0].rules[0].merged.has_value());
  EXPECT_EQ(merged.chains[0].rules[0].merged->handles.size(), 8u);

  kernel::LinuxKernel k;
  auto rt1 = chain::RuntimeTables::create(k);
  auto rt2 = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt1.has_value() && rt2.has_value());
  auto a = ChainRun::create(k, *rt1, plain, "in", Flavor::kNetfilter);
  auto m = ChainRun::create(k, *rt2, merged, "in", Flavor::kNetfilter);
  ASSERT_TRUE(a.has_value()) << a.error().describe();
  ASSERT_TRUE(m.has_value()) << m.error().describe();
  // Packet i from kBase + i, sent i + 1 times (i = 0..9: 8 and 9 match nothing).
  for (uint32_t i = 0; i < 10; ++i)
    for (uint32_t n = 0; n <= i; ++n) {
      TestPacket p{Packet::ipv4(dotted(kBase + i), "10.88.1.2").udp(1, 2).bytes(), 0, false};
      auto x = a->run_bpf(p);
      auto y = m->run_bpf(p);
      ASSERT_TRUE(x.has_value() && y.has_value());
      EXPECT_EQ(verdict_name(*x), verdict_name(*y));
    }
  auto count = [](const ChainRun& run, chain::RuntimeTables& rt, uint64_t handle) -> uint64_t {
    for (const auto& u : run.compiled().counters)
      if (u.key.handle == handle) return rt.counters.read(u.slot)->packets;
    ADD_FAILURE() << "no counter slot for rule " << handle;
    return 0;
  };
  const uint64_t want[] = {1, 2, 3, 0, 5, 6, 7, 8};  // kBase+3 is nobody's: rule 13 says kBase+1
  for (uint64_t r = 0; r < 8; ++r) {
    EXPECT_EQ(count(*a, *rt1, 10 + r), want[r]) << "unmerged rule " << 10 + r;
    EXPECT_EQ(count(*m, *rt2, 10 + r), want[r]) << "merged rule " << 10 + r;
  }
}

// 100 000 rules load merged (one lookup); 20 000 load as written (40 000 instructions: the
// verdict jumps, the run's unavailable label and the slow paths must stay within reach of
// 16-bit conditional jumps). As written, 100 000 rules exceed the verifier's 1M processed
// instructions (about 10 per rule): that needs tail calls (docs/performance.md).
TEST(BigChains, HundredThousandMergedAndTwentyThousandUnmergedRulesLoad) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 100000; ++i)
    rules.push_back(rule(i + 1, {b::eq(KnownField::kIp4Saddr, b::be32(kBase + i))}, b::drop()));
  ir::Chain in{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .rules = std::move(rules)};
  ir::Table plain{.family = ir::Family::kIp, .name = "t", .chains = {std::move(in)}};
  ir::Table merged = plain;
  ASSERT_TRUE(translate::passes::merge_runs(merged).has_value());
  ASSERT_EQ(merged.chains[0].rules.size(), 1u);
  plain.chains[0].rules.resize(20000);
  for (const ir::Table* t : {&merged, &plain}) {
    const uint32_t n = t == &merged ? 100000 : 20000;
    auto run = ChainRun::create(k, *rt, *t, "in", Flavor::kNetfilter);
    ASSERT_TRUE(run.has_value()) << run.error().describe();
    for (uint32_t a : {kBase, kBase + n - 1, kBase + n}) {
      TestPacket p{Packet::ipv4(dotted(a), "10.88.1.2").udp(1, 2).bytes(), 0, false};
      auto v = run->run_bpf(p);
      ASSERT_TRUE(v.has_value()) << v.error().describe();
      EXPECT_EQ(verdict_name(*v), verdict_name(a < kBase + n ? ir::VerdictKind::kDrop : ir::VerdictKind::kAccept)) << n;
    }
  }
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
