// merge_runs: the IR it produces, and (through the reference evaluator) that verdicts do not change.
#include "translate/passes/merge_runs.h"

#include <gtest/gtest.h>

#include <random>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/ir/build.h"
#include "translate/ir/test_fixtures.h"
#include "translate/ir/validate.h"

namespace nfbpf::translate::passes {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;
using ir::testing::dotted;
using ir::testing::rule;

ir::Bytes ip4(uint32_t host) { return b::be32(host); }
constexpr uint32_t kBase = 0xac100000;  // 172.16.0.0

ir::Match saddr(uint32_t a) { return b::eq(KnownField::kIp4Saddr, ip4(a)); }
ir::Match saddr_prefix(uint32_t a, uint32_t bits) { return b::prefix(KnownField::kIp4Saddr, ip4(a), bits); }

ir::Table table(std::vector<ir::Rule> rules, ir::Family fam = ir::Family::kIp) {
  ir::Chain c{.name = "input", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .rules = std::move(rules)};
  return ir::Table{.family = fam, .name = "t", .chains = {std::move(c)}};
}

const ir::Match& match_at(const ir::Rule& r, size_t i) { return std::get<ir::Match>(r.steps.at(i)); }

// Every packet gets the same verdict from both tables.
void expect_same_verdicts(const ir::Table& before, const ir::Table& after, const std::vector<ir::Bytes>& pkts) {
  eval::PacketContext ctx{.family = before.family, .hook = ir::Hook::kInput, .in = eval::Device{.name = "eth0", .ifindex = 2}};
  for (const auto& p : pkts) {
    eval::EvalState s1, s2;
    auto a = eval::evaluate(before, ctx, p, s1);
    auto m = eval::evaluate(after, ctx, p, s2);
    ASSERT_TRUE(a) << a.error().describe();
    ASSERT_TRUE(m) << m.error().describe();
    EXPECT_EQ(a->verdict, m->verdict) << "unmerged: " << a->describe() << ", merged: " << m->describe();
    EXPECT_EQ(a->chain, m->chain);
  }
}

ir::Bytes from(uint32_t src, uint16_t dport = 80) { return Packet::ipv4(dotted(src), "10.88.1.2").tcp(1000, dport).bytes(); }

TEST(MergeRuns, ExactRunBecomesOneHashLookup) {
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 100; ++i) rules.push_back(rule(10 + i, {saddr(kBase + i)}, b::drop()));
  ir::Table t = table(rules);
  auto st = merge_runs(t);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->runs, 1u);
  EXPECT_EQ(st->rules_merged, 100u);
  ASSERT_EQ(t.chains[0].rules.size(), 1u);
  const ir::Rule& r = t.chains[0].rules[0];
  EXPECT_EQ(r.handle, 10u);
  EXPECT_EQ(r.verdict, b::drop());
  const ir::Match& m = match_at(r, 0);
  EXPECT_EQ(m.op, ir::Op::kInSet);
  EXPECT_EQ(m.key, std::vector<ir::Field>{ir::known_field(KnownField::kIp4Saddr)});
  ASSERT_EQ(t.sets.size(), 1u);
  EXPECT_EQ(t.sets[0].name, m.set);
  EXPECT_FALSE(t.sets[0].flags & ir::kSetInterval);
  EXPECT_EQ(t.sets[0].key_len, 4u);
  ASSERT_EQ(t.sets[0].elements.size(), 100u);
  EXPECT_EQ(t.sets[0].elements[7].key, ip4(kBase + 7));
  EXPECT_TRUE(ir::validate(t));
  expect_same_verdicts(table(rules), t, {from(kBase), from(kBase + 99), from(kBase + 100), from(0x0a580101)});
}

TEST(MergeRuns, ShortRunsStayLinear) {
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 10; ++i) rules.push_back(rule(i + 1, {saddr(kBase + i)}, b::drop()));
  ir::Table t = table(rules);
  auto st = merge_runs(t);  // default min_run
  ASSERT_TRUE(st);
  EXPECT_EQ(st->runs, 0u);
  EXPECT_EQ(t.chains[0].rules.size(), 10u);
  EXPECT_TRUE(t.sets.empty());
}

TEST(MergeRuns, VerdictChangesSplitRunsAndKeepOrder) {
  // 172.16.0.5 is dropped by the first run before the accept rule for it: must stay dropped.
  std::vector<ir::Rule> rules;
  uint64_t h = 1;
  for (uint32_t i = 0; i < 8; ++i) rules.push_back(rule(h++, {saddr(kBase + i)}, b::drop()));
  rules.push_back(rule(h++, {saddr(kBase + 5)}, b::accept()));
  for (uint32_t i = 0; i < 8; ++i) rules.push_back(rule(h++, {saddr(kBase + 100 + i)}, b::accept()));
  for (uint32_t i = 0; i < 8; ++i) rules.push_back(rule(h++, {saddr(kBase + 100 + i)}, b::drop()));
  ir::Table t = table(rules);
  ASSERT_TRUE(merge_runs(t, {.min_run = 4}));
  // drop-run, the lone accept joins the accept run (same verdict, same field), drop-run
  ASSERT_EQ(t.chains[0].rules.size(), 3u);
  EXPECT_EQ(t.chains[0].rules[0].verdict, b::drop());
  EXPECT_EQ(t.chains[0].rules[1].verdict, b::accept());
  EXPECT_EQ(t.chains[0].rules[2].verdict, b::drop());
  EXPECT_EQ(t.sets.size(), 3u);
  EXPECT_TRUE(ir::validate(t));
  expect_same_verdicts(table(rules), t, {from(kBase + 5), from(kBase + 7), from(kBase + 101), from(kBase + 200)});
}

TEST(MergeRuns, PrefixesOfDifferentLengthsBecomeAnIntervalSet) {
  std::vector<ir::Rule> rules;
  uint64_t h = 1;
  rules.push_back(rule(h++, {saddr_prefix(0x0a000000, 8)}, b::drop()));   // 10.0.0.0/8
  rules.push_back(rule(h++, {saddr_prefix(0x0a010000, 16)}, b::drop()));  // nested in it
  rules.push_back(rule(h++, {saddr(0xc0000201)}, b::drop()));               // 192.0.2.1
  rules.push_back(rule(h++, {saddr_prefix(0xc6336400, 24)}, b::drop()));  // 198.51.100.0/24
  rules.push_back(rule(h++, {saddr_prefix(0xcb007100, 24)}, b::drop()));  // 203.0.113.0/24
  ir::Table t = table(rules);
  ASSERT_TRUE(merge_runs(t, {.min_run = 4}));
  ASSERT_EQ(t.chains[0].rules.size(), 1u);
  EXPECT_FALSE(match_at(t.chains[0].rules[0], 0).mask);
  ASSERT_EQ(t.sets.size(), 1u);
  const ir::Set& s = t.sets[0];
  EXPECT_TRUE(s.flags & ir::kSetInterval);
  ASSERT_EQ(s.elements.size(), 4u);  // the /16 inside the /8 adds nothing
  EXPECT_EQ(s.elements[0].key, ip4(0x0a000000));
  EXPECT_EQ(s.elements[0].key_end, ip4(0x0affffff));
  EXPECT_EQ(s.elements[1].key, ip4(0xc0000201));
  EXPECT_EQ(s.elements[1].key_end, ip4(0xc0000201));
  EXPECT_TRUE(ir::validate(t));
  expect_same_verdicts(table(rules), t,
                       {from(0x0a0a0a0a), from(0x0b000001), from(0xc0000201), from(0xc0000202), from(0xcb0071ff)});
}

TEST(MergeRuns, SameMaskStaysAHashOfMaskedValues) {
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 6; ++i) rules.push_back(rule(i + 1, {saddr_prefix(kBase + (i << 8), 24)}, b::accept()));
  ir::Table t = table(rules);
  ASSERT_TRUE(merge_runs(t, {.min_run = 4}));
  ASSERT_EQ(t.chains[0].rules.size(), 1u);
  const ir::Match& m = match_at(t.chains[0].rules[0], 0);
  ASSERT_TRUE(m.mask);
  EXPECT_EQ(*m.mask, b::prefix_mask(4, 24));
  EXPECT_FALSE(t.sets[0].flags & ir::kSetInterval);
  EXPECT_TRUE(ir::validate(t));
  expect_same_verdicts(table(rules), t, {from(kBase + 0x0305), from(kBase + 0x0605), from(kBase + 0x0000)});
}

TEST(MergeRuns, GuardsAreSharedAndTheVaryingStepFound) {
  // inet: meta nfproto ipv4, meta l4proto tcp, tcp dport P accept
  std::vector<ir::Rule> rules;
  for (uint16_t p = 0; p < 6; ++p)
    rules.push_back(rule(p + 1,
                         {b::eq(KnownField::kMetaNfProto, b::u8(2)), b::eq(KnownField::kMetaL4Proto, b::u8(6)),
                          b::eq(KnownField::kTcpDport, b::be16(static_cast<uint16_t>(1000 + p)))},
                         b::accept()));
  rules.push_back(rule(99, {}, b::drop()));
  ir::Table t = table(rules, ir::Family::kInet);
  t.chains[0].policy = ir::VerdictKind::kAccept;
  ASSERT_TRUE(merge_runs(t, {.min_run = 4}));
  ASSERT_EQ(t.chains[0].rules.size(), 2u);
  const ir::Rule& r = t.chains[0].rules[0];
  ASSERT_EQ(r.steps.size(), 3u);
  EXPECT_EQ(match_at(r, 0), b::eq(KnownField::kMetaNfProto, b::u8(2)));
  EXPECT_EQ(match_at(r, 2).op, ir::Op::kInSet);
  EXPECT_EQ(t.sets[0].key_len, 2u);
  EXPECT_TRUE(ir::validate(t));
  expect_same_verdicts(table(rules, ir::Family::kInet), t,
                       {from(1, 1003), from(1, 999), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1003).bytes()});
}

TEST(MergeRuns, CountingRunsMapEachKeyToItsFirstRule) {
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 6; ++i) rules.push_back(rule(i + 1, {saddr(kBase + (i == 4 ? 2 : i)), ir::Counter{}}, b::drop()));
  ir::Table t = table(rules);
  ASSERT_TRUE(merge_runs(t, {.min_run = 4}));
  ASSERT_EQ(t.chains[0].rules.size(), 1u);
  const ir::Rule& r = t.chains[0].rules[0];
  ASSERT_TRUE(r.merged);
  EXPECT_EQ(r.merged->lookup_step, 0u);
  EXPECT_EQ(r.merged->handles, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(std::holds_alternative<ir::Counter>(r.steps.back()));
  const ir::Set& s = t.sets[0];
  EXPECT_EQ(s.data_len, 4u);
  ASSERT_EQ(s.elements.size(), 5u);  // rule 5 repeats rule 3's address: rule 3 (index 2) keeps it
  EXPECT_EQ(s.elements[2].key, ip4(kBase + 2));
  EXPECT_EQ(s.elements[2].data, b::host32(2));
  EXPECT_EQ(s.elements[4].data, b::host32(5));
  EXPECT_TRUE(ir::validate(t));
  // Nested prefixes would count for the wrong rule: a counting interval run stays linear.
  std::vector<ir::Rule> nested;
  nested.push_back(rule(1, {saddr_prefix(0x0a000000, 8), ir::Counter{}}, b::drop()));
  for (uint32_t i = 0; i < 5; ++i) nested.push_back(rule(i + 2, {saddr(0x0a000001 + i), ir::Counter{}}, b::drop()));
  ir::Table t2 = table(nested);
  ASSERT_TRUE(merge_runs(t2, {.min_run = 4}));
  EXPECT_EQ(t2.chains[0].rules.size(), 6u);
}

TEST(MergeRuns, StatementsAndRandomKeepRulesApart) {
  std::vector<ir::Rule> rules;
  // A counter before the varying match counts every packet that reaches it: no merging.
  for (uint32_t i = 0; i < 6; ++i) rules.push_back(rule(i + 1, {ir::Counter{}, saddr(kBase + i)}, b::drop()));
  ir::Field rnd{.base = ir::Base::kMeta, .len = 4, .key = static_cast<uint8_t>(ir::MetaKey::kRandom), .host_order = true};
  for (uint32_t i = 0; i < 6; ++i)
    rules.push_back(rule(i + 10, {ir::Match{.key = {rnd}, .op = ir::Op::kLt, .value = b::host32(1000)}, saddr(kBase + i)},
                         b::drop()));
  ir::Table t = table(rules);
  auto st = merge_runs(t, {.min_run = 2});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->runs, 0u);
  EXPECT_EQ(t.chains[0].rules.size(), 12u);
}

TEST(MergeRuns, JumpsMergeOnlyWhenNoPacketMatchesTwice) {
  // A jump returns, so with a duplicate value the unmerged chain would jump twice.
  ir::Chain sub{.name = "sub", .rules = {rule(50, {}, b::ret())}};
  std::vector<ir::Rule> dup, distinct;
  for (uint32_t i = 0; i < 6; ++i) dup.push_back(rule(i + 1, {saddr(kBase + (i == 5 ? 0 : i))}, b::jump("sub")));
  for (uint32_t i = 0; i < 6; ++i) distinct.push_back(rule(i + 1, {saddr(kBase + i)}, b::jump("sub")));
  ir::Table t1 = table(dup), t2 = table(distinct);
  t1.chains.push_back(sub);
  t2.chains.push_back(sub);
  ASSERT_TRUE(merge_runs(t1, {.min_run = 4}));
  ASSERT_TRUE(merge_runs(t2, {.min_run = 4}));
  EXPECT_EQ(t1.chains[0].rules.size(), 6u);
  EXPECT_EQ(t2.chains[0].rules.size(), 1u);
}

TEST(MergeRuns, RandomChainsKeepEveryVerdict) {
  // Random chains over a small value space (many duplicates, nested prefixes, verdict changes):
  // the evaluator must give every packet the same verdict before and after.
  std::mt19937 rng(12345);
  for (int round = 0; round < 20; ++round) {
    std::vector<ir::Rule> rules;
    ir::Verdict v = b::drop();
    for (uint64_t h = 1; h <= 200; ++h) {
      if (rng() % 23 == 0) v = (v == b::drop()) ? b::accept() : b::drop();
      uint32_t a = kBase + rng() % 64;
      uint32_t kind = rng() % 10;
      if (kind == 0) rules.push_back(rule(h, {saddr_prefix(a & ~0xfu, 28)}, v));
      else if (kind == 1) rules.push_back(rule(h, {b::eq(KnownField::kIp4Daddr, ip4(a))}, v));
      else rules.push_back(rule(h, {saddr(a)}, v));
    }
    ir::Table t = table(rules);
    ASSERT_TRUE(merge_runs(t, {.min_run = 3}));
    ASSERT_TRUE(ir::validate(t));
    EXPECT_LT(t.chains[0].rules.size(), rules.size());
    std::vector<ir::Bytes> pkts;
    for (uint32_t a = 0; a < 70; ++a) pkts.push_back(from(kBase + a));
    expect_same_verdicts(table(rules), t, pkts);
  }
}

}  // namespace
}  // namespace nfbpf::translate::passes
