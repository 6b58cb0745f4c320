// classify_rules (the pass): when it marks a block and when it leaves rules linear, and on random
// chains (fixed seed) that the reference evaluator gives the same verdict, deciding rule, counters
// and rule-match counts with the classified form as with the rules one by one.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/ir/build.h"
#include "translate/ir/test_fixtures.h"
#include "translate/passes/classify.h"

namespace nfbpf::translate::passes {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;
using ir::testing::dotted;
using ir::testing::rule;

// ip saddr A tcp dport P counter drop, as nft lowers it (the l4proto guard first).
ir::Rule pair_rule(uint64_t h, uint32_t saddr, uint16_t port, ir::Verdict v = b::drop()) {
  return rule(h, {b::eq(KnownField::kMetaL4Proto, b::u8(6)), b::eq(KnownField::kIp4Saddr, b::be32(saddr)),
                  b::cmp(KnownField::kTcpDport, ir::Op::kEq, b::be16(port)), ir::Counter{}},
              std::move(v));
}
ir::Table table_of(std::vector<ir::Rule> rules) {
  return ir::Table{.family = ir::Family::kIp, .name = "t",
                   .chains = {ir::Chain{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .rules = std::move(rules)}}};
}

TEST(ClassifyPass, MarksALongMultiFieldBlockAndKeepsEveryRule) {
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 300; ++i) rules.push_back(pair_rule(i + 1, 0x0a000000 + i, uint16_t(1000 + i % 7), i % 2 ? b::accept() : b::drop()));
  rules.push_back(rule(301, {b::range(KnownField::kTcpDport, b::be16(5), b::be16(9)), b::eq(KnownField::kIp4Daddr, b::be32(1))}));
  for (uint32_t i = 0; i < 80; ++i) rules.push_back(pair_rule(400 + i, 0x0b000000 + i, 22));
  ir::Table t = table_of(rules);
  auto st = classify_rules(t);
  ASSERT_TRUE(st) << st.error().describe();
  EXPECT_EQ(st->blocks, 1u);
  EXPECT_EQ(st->rules, 381u);
  const auto& out = t.chains[0].rules;
  ASSERT_EQ(out.size(), 381u);  // nothing removed
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].handle, rules[i].handle);
    EXPECT_EQ(out[i].steps, rules[i].steps);
    EXPECT_EQ(out[i].classified.has_value(), i == 0);
  }
  const auto& cl = *out[0].classified;
  EXPECT_EQ(cl.rules, 381u);
  EXPECT_EQ(cl.words, 6u);
  ASSERT_EQ(cl.fields.size(), 4u);  // l4proto, saddr, dport, daddr
  EXPECT_EQ(cl.fields[0].field, ir::known_field(KnownField::kMetaL4Proto));
  ASSERT_EQ(t.sets.size(), 4u);
  for (size_t f = 0; f < 4; ++f) {
    const ir::Set* s = ir::find_set(t, cl.fields[f].set);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->data_len, 48u);
    EXPECT_EQ(cl.fields[f].wildcard.size(), 48u);
    // dport has a range (an interval map); the others name single values (hash maps).
    EXPECT_EQ((s->flags & ir::kSetInterval) != 0, f == 2) << s->name;
  }
  // l4proto 6: every rule but 301 (which tests no l4proto: it is in the wildcard).
  const ir::Set* proto = ir::find_set(t, cl.fields[0].set);
  ASSERT_EQ(proto->elements.size(), 1u);
  EXPECT_EQ(proto->elements[0].data[0], 0xff);
  EXPECT_EQ(cl.fields[0].wildcard[300 / 8], 1u << (300 % 8));
}

TEST(ClassifyPass, LeavesRulesLinearWhenItShould) {
  auto classified = [](std::vector<ir::Rule> rules, ClassifyOptions o = {}) {
    ir::Table t = table_of(std::move(rules));
    auto st = classify_rules(t, o);
    EXPECT_TRUE(st);
    return st ? st->blocks : 0;
  };
  std::vector<ir::Rule> r;
  for (uint32_t i = 0; i < 63; ++i) r.push_back(pair_rule(i + 1, i, 80));
  ClassifyOptions cheap;
  cheap.lookup_ns = 1;
  EXPECT_EQ(classified(r, cheap), 0u);  // too short
  r.push_back(pair_rule(64, 64, 80));
  EXPECT_EQ(classified(r, cheap), 1u);  // 64 rules: long enough
  // The cost model: 3 lookups (75 ns) against 64 x 3 compares (58 ns) stay linear; 100 rules (90
  // ns of compares) do not.
  EXPECT_EQ(classified(r), 0u);
  for (uint32_t i = 64; i < 100; ++i) r.push_back(pair_rule(i + 1, i, 80));
  EXPECT_EQ(classified(r), 1u);
  // A jump in the middle: two runs of 50, each too short.
  std::vector<ir::Rule> split = r;
  split[50].verdict = b::jump("x");
  EXPECT_EQ(classified(split), 0u);
  // One field: merge_runs' job.
  std::vector<ir::Rule> one;
  for (uint32_t i = 0; i < 200; ++i) one.push_back(rule(i + 1, {b::eq(KnownField::kIp4Saddr, b::be32(i))}));
  EXPECT_EQ(classified(one), 0u);
  // Five fields: more than codegen keeps pointers for.
  std::vector<ir::Rule> wide;
  for (uint32_t i = 0; i < 200; ++i) {
    ir::Rule x = pair_rule(i + 1, i, 80);
    x.steps.insert(x.steps.begin(), b::eq(KnownField::kIp4Daddr, b::be32(i)));
    x.steps.insert(x.steps.begin(), b::eq(KnownField::kIp4Ttl, b::u8(64)));
    wide.push_back(std::move(x));
  }
  EXPECT_EQ(classified(wide), 0u);
  // A host-order field compared other than by ==: not a hash map, and an LPM trie would order its
  // bytes wrongly.
  std::vector<ir::Rule> mark = r;
  mark[10].steps.insert(mark[10].steps.begin(), b::cmp(KnownField::kMetaMark, ir::Op::kGt, b::host32(5)));
  EXPECT_FALSE(classifiable(mark[10]));
  mark.resize(64);
  EXPECT_EQ(classified(mark, cheap), 0u);  // 10 + 53 rules around it
  mark[10].steps[0] = b::eq(KnownField::kMetaMark, b::host32(5));
  EXPECT_TRUE(classifiable(mark[10]));
  EXPECT_EQ(classified(mark, cheap), 1u);
  // The map budget: one block of 3 fields needs 3 maps.
  ClassifyOptions tight;
  tight.max_field_maps = 2;
  EXPECT_EQ(classified(r, tight), 0u);
}

// nft loads 3 bytes for `ip saddr A.B.C.0/24`: such compares are widened to the 4-byte address
// with a prefix mask inside classified blocks, so they share the address's lookup.
TEST(ClassifyPass, ShortPrefixLoadsShareTheAddressField) {
  std::vector<ir::Rule> rules;
  ir::Field saddr3 = ir::known_field(KnownField::kIp4Saddr);
  saddr3.len = 3;
  for (uint32_t i = 0; i < 120; ++i) {
    ir::Rule r = pair_rule(i + 1, 0x0a000000 + (i << 8) + 1, uint16_t(1000 + i % 7), i % 2 ? b::accept() : b::drop());
    if (i % 3 == 0) r.steps[1] = ir::Match{.key = {saddr3}, .value = {0x0a, uint8_t(i >> 8), uint8_t(i)}};  // i.0/24
    rules.push_back(std::move(r));
  }
  ir::Table linear = table_of(rules);
  ir::Table t = linear;
  auto st = classify_rules(t);
  ASSERT_TRUE(st) << st.error().describe();
  ASSERT_EQ(st->blocks, 1u);
  EXPECT_EQ(t.chains[0].rules[0].classified->fields.size(), 3u);  // l4proto, saddr, dport
  const auto& m = std::get<ir::Match>(t.chains[0].rules[3].steps[1]);
  EXPECT_EQ(m.key[0].len, 4u);
  EXPECT_EQ(m.mask, (ir::Bytes{0xff, 0xff, 0xff, 0}));
  eval::PacketContext ctx{.family = ir::Family::kIp, .hook = ir::Hook::kInput};
  eval::EvalState s1, s2;
  for (uint32_t i = 0; i < 120; ++i)
    for (uint32_t host : {1u, 9u})
      for (uint16_t port : {uint16_t(1000 + i % 7), uint16_t(999)}) {
        ir::Bytes pkt = Packet::ipv4(dotted(0x0a000000 + (i << 8) + host), "10.9.9.9").tcp(5, port).bytes();
        auto a = eval::evaluate(linear, ctx, pkt, s1);
        auto c = eval::evaluate(t, ctx, pkt, s2);
        ASSERT_TRUE(a && c);
        EXPECT_EQ(a->rule, c->rule) << i << " " << host << " " << port;
      }
  EXPECT_EQ(s1.counters, s2.counters);
}

// Compile-time budget: 10 000 pair rules (5 blocks, 15 field maps) are planned and built in
// well under a second (printed for docs/codegen.md).
TEST(ClassifyPass, TenThousandPairRulesClassifyQuickly) {
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 10000; ++i) rules.push_back(pair_rule(i + 1, 0x0a000000 + i, uint16_t(1000 + i % 100)));
  ir::Table t = table_of(std::move(rules));
  auto t0 = std::chrono::steady_clock::now();
  auto st = classify_rules(t);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(st) << st.error().describe();
  EXPECT_EQ(st->blocks, 5u);  // 2048 rules each
  EXPECT_EQ(t.sets.size(), 15u);
  EXPECT_LT(ms, 2000);
  std::printf("10 000 pair rules: %zu blocks classified in %.0f ms\n", st->blocks, ms);
}

// Random chains mixing classifiable runs with rules that are not (jumps, marks, logs), checked
// with the evaluator on the rules one by one.
TEST(ClassifyPass, RandomChainsKeepVerdictsAndCounters) {
  std::mt19937 rng(20261128);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  constexpr uint32_t kNet = 0x0a000000;
  size_t blocks = 0, packets = 0, by_rule = 0;
  for (int round = 0; round < 25; ++round) {
    std::vector<ir::Rule> rules;
    uint64_t h = 1;
    for (int seg = 0; seg < 4; ++seg) {
      size_t n = 20 + pick(180);
      for (size_t i = 0; i < n; ++i) {
        rules.push_back(ir::testing::random_classifiable_rule(h++, kNet, 2, pick));
      }
      // Something that is not classifiable between the runs.
      switch (pick(3)) {
        case 0: rules.push_back(rule(h++, {b::eq(KnownField::kIp4Daddr, b::be32(kNet + 0x100)), ir::Counter{}}, b::jump("sub"))); break;
        case 1: rules.push_back(rule(h++, {ir::SetMark{.clear = 0xffffffff, .value = 7}}, ir::Verdict{})); break;
        default: rules.push_back(rule(h++, {b::eq(KnownField::kMetaMark, b::host32(7)), ir::Counter{}}, b::accept())); break;
      }
    }
    ir::Table linear = table_of(rules);
    linear.chains[0].policy = pick(2) ? ir::VerdictKind::kAccept : ir::VerdictKind::kDrop;
    linear.chains.push_back(ir::Chain{.name = "sub", .rules = {rule(h++, {b::eq(KnownField::kMetaL4Proto, b::u8(17)), ir::Counter{}}, b::drop())}});
    ir::Table cls = linear;
    ClassifyOptions o;
    o.min_rules = 16;
    o.max_rules = 128;  // several blocks per run, of 1 to 2 words
    o.lookup_ns = 1;    // whatever the cost: this tests the form
    auto st = classify_rules(cls, o);
    ASSERT_TRUE(st) << st.error().describe();
    blocks += st->blocks;
    eval::PacketContext ctx{.family = ir::Family::kIp, .hook = ir::Hook::kInput};
    eval::EvalState s1, s2;
    for (int k = 0; k < 200; ++k) {
      Packet p = Packet::ipv4(dotted(kNet + pick(0x140)), dotted(kNet + 0x100 + pick(5)));
      uint32_t kind = pick(4);
      uint16_t port = uint16_t(18 + pick(16));
      ir::Bytes pkt = kind == 0 ? p.tcp(1000, port).bytes() : kind == 1 ? p.udp(1000, port).bytes()
                    : kind == 2 ? p.icmp(8, 0).bytes() : p.tcp(1000, port).bytes();
      if (kind == 3) pkt.resize(22);  // truncated: the transport port cannot be loaded
      auto a = eval::evaluate(linear, ctx, pkt, s1);
      auto c = eval::evaluate(cls, ctx, pkt, s2);
      ASSERT_TRUE(a) << a.error().describe();
      ASSERT_TRUE(c) << c.error().describe();
      ASSERT_EQ(a->verdict, c->verdict) << "round " << round << " packet " << k;
      ASSERT_EQ(a->chain, c->chain);
      ASSERT_EQ(a->rule, c->rule) << "round " << round << " packet " << k;
      ++packets;
      if (a->rule) ++by_rule;
    }
    EXPECT_EQ(s1.counters, s2.counters) << "round " << round;
    EXPECT_EQ(s1.rule_matches, s2.rule_matches) << "round " << round;
  }
  EXPECT_GT(blocks, 60u);
  EXPECT_GT(by_rule, packets / 2);
  std::printf("%zu classified blocks, %zu packets, %zu decided by a rule\n", blocks, packets, by_rule);
}

}  // namespace
}  // namespace nfbpf::translate::passes
