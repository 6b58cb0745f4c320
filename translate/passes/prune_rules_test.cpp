// prune_rules: which rules go (impossible, unreachable, shadowed), which stay, and (through the
// reference evaluator, on random chains) that verdicts and every counter stay the same.
#include "translate/passes/prune_rules.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/ir/build.h"
#include "translate/ir/test_fixtures.h"
#include "translate/ir/validate.h"
#include "translate/passes/value_domain.h"

namespace nfbpf::translate::passes {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;
using ir::testing::dotted;
using ir::testing::rule;

ir::Match saddr(uint32_t a) { return b::eq(KnownField::kIp4Saddr, b::be32(a)); }
ir::Match saddr_prefix(uint32_t a, uint32_t bits) { return b::prefix(KnownField::kIp4Saddr, b::be32(a), bits); }
ir::Match l4(uint8_t p) { return b::eq(KnownField::kMetaL4Proto, b::u8(p)); }
ir::Match dport(ir::Op op, uint16_t p) { return b::cmp(KnownField::kTcpDport, op, b::be16(p)); }

ir::Table table(std::vector<ir::Rule> rules) {
  ir::Chain c{.name = "input", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .rules = std::move(rules)};
  return ir::Table{.family = ir::Family::kIp, .name = "t", .chains = {std::move(c)}};
}

std::vector<uint64_t> handles(const ir::Chain& c) {
  std::vector<uint64_t> out;
  for (const auto& r : c.rules) out.push_back(r.handle);
  return out;
}

TEST(ValueDomain, IntervalsNarrowAndEmpty) {
  ValueDomain d(2);
  d.restrict(ir::Op::kGt, 100);
  d.restrict(ir::Op::kNe, 200);
  ASSERT_EQ(d.intervals().size(), 2u);
  EXPECT_EQ(d.intervals()[0], (ValueDomain::Interval{101, 199}));
  EXPECT_EQ(d.intervals()[1], (ValueDomain::Interval{201, 0xffff}));
  d.restrict(ir::Op::kLe, 150);
  EXPECT_EQ(d.intervals(), (std::vector<ValueDomain::Interval>{{101, 150}}));
  d.restrict(ir::Op::kNotRange, 100, 150);
  EXPECT_TRUE(d.empty());
  ValueDomain lt0(1);
  lt0.restrict(ir::Op::kLt, 0);
  EXPECT_TRUE(lt0.empty());
  ValueDomain gtmax(1);
  gtmax.restrict(ir::Op::kGt, 255);
  EXPECT_TRUE(gtmax.empty());
  ValueDomain inverted(4);
  inverted.restrict(ir::Op::kRange, 9, 3);
  EXPECT_TRUE(inverted.empty());
  // Host order: bytes 01 00 are the number 1, network order 256.
  ir::Field host{.base = ir::Base::kMeta, .len = 2, .host_order = true};
  ir::Field net{.base = ir::Base::kNetwork, .len = 2};
  EXPECT_EQ(to_number(host, {1, 0}), Number{1});
  EXPECT_EQ(to_number(net, {1, 0}), Number{256});
  EXPECT_FALSE(to_number(net, {1, 0, 0}));
}

TEST(PruneRules, ContradictoryComparesAreImpossible) {
  ir::Table t = table({});
  ir::Set empty{.name = "e", .flags = ir::kSetConstant | ir::kSetAnonymous, .key_parts = {4}, .key_len = 4};
  ir::Set open{.name = "o", .key_parts = {4}, .key_len = 4};  // may get elements later
  t.sets = {empty, open};
  auto imp = [&](std::vector<ir::Step> steps) { return impossible(t, rule(1, std::move(steps))); };
  EXPECT_TRUE(imp({saddr(0x01020304), saddr(0x05060708)}));
  EXPECT_TRUE(imp({l4(6), dport(ir::Op::kEq, 22), l4(17)}));                       // tcp guard, then udp
  EXPECT_TRUE(imp({l4(6), dport(ir::Op::kGt, 100), dport(ir::Op::kLt, 50)}));
  EXPECT_TRUE(imp({b::range(KnownField::kTcpDport, b::be16(90), b::be16(80))}));    // empty range
  EXPECT_TRUE(imp({saddr_prefix(0x0a000000, 8), saddr(0xc0a80001)}));              // 10/8, 192.168.0.1
  EXPECT_TRUE(imp({saddr_prefix(0x0a000000, 8), saddr_prefix(0x0b000000, 8)}));
  EXPECT_TRUE(imp({b::masked(KnownField::kIp4Saddr, b::be32(0xff000000), ir::Op::kEq, b::be32(0x0a000001))}));
  EXPECT_TRUE(imp({b::in_set({ir::known_field(KnownField::kIp4Saddr)}, "e")}));
  EXPECT_TRUE(imp({saddr(0x01020304), b::ne(KnownField::kIp4Saddr, b::be32(0x01020304))}));
  // Fine: consistent, different fields, non-constant sets, or a statement before the contradiction.
  EXPECT_FALSE(imp({saddr(0x01020304), saddr(0x01020304)}));
  EXPECT_FALSE(imp({saddr_prefix(0x0a000000, 8), saddr(0x0a010203)}));
  EXPECT_FALSE(imp({l4(6), dport(ir::Op::kGt, 100), dport(ir::Op::kLt, 200)}));
  EXPECT_FALSE(imp({saddr(0x01020304), b::eq(KnownField::kIp4Daddr, b::be32(0x05060708))}));
  EXPECT_FALSE(imp({b::in_set({ir::known_field(KnownField::kIp4Saddr)}, "o")}));
  EXPECT_FALSE(imp({b::in_set({ir::known_field(KnownField::kIp4Saddr)}, "e", true)}));
  EXPECT_FALSE(imp({ir::Counter{}, saddr(0x01020304), saddr(0x05060708)}));
  EXPECT_FALSE(imp({b::masked(KnownField::kIp4Saddr, b::be32(0xff000000), ir::Op::kNe, b::be32(0x0a000001))}));
}

TEST(PruneRules, RemovesImpossibleRulesOnly) {
  ir::Table t = table({rule(1, {saddr(1), saddr(2), ir::Counter{}}), rule(2, {saddr(3)}),
                       rule(3, {ir::Counter{}, saddr(1), saddr(2)}), rule(4, {l4(6), l4(17)}, b::accept())});
  auto st = prune_rules(t);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->impossible, 2u);
  EXPECT_EQ(handles(t.chains[0]), (std::vector<uint64_t>{2, 3}));
}

TEST(PruneRules, RulesAfterAnUnconditionalVerdictAreUnreachable) {
  ir::Chain sub{.name = "sub", .rules = {rule(20, {saddr(1)}), rule(21, {ir::Counter{}}, b::ret()), rule(22, {saddr(2)})}};
  ir::Table t = table({rule(1, {saddr(1)}), rule(2, {ir::Counter{}}, b::jump("sub")),  // a jump comes back
                       rule(3, {ir::SetMark{.value = 7}}, ir::Verdict{}),             // continue: goes on
                       rule(4, {saddr(2)}), rule(5, {ir::Counter{}, ir::Log{}}, b::accept()), rule(6, {saddr(3)}),
                       rule(7, {}, b::drop())});
  t.chains.push_back(sub);
  auto st = prune_rules(t);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->unreachable, 3u);
  EXPECT_EQ(handles(t.chains[0]), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(handles(t.chains[1]), (std::vector<uint64_t>{20, 21}));
  EXPECT_TRUE(ir::validate(t));
}

TEST(PruneRules, ShadowedRulesGoOnlyWithoutStateChangesBetween) {
  ir::Match tcp22 = dport(ir::Op::kEq, 22);
  ir::Table t = table({
      rule(1, {l4(6), tcp22, ir::Counter{}}, b::accept()),
      rule(2, {l4(6), tcp22, ir::Counter{}}, b::drop()),                   // identical matches: shadowed
      rule(3, {saddr(9), l4(6), tcp22, ir::Counter{}, ir::Log{}}),         // more specific: shadowed
      rule(4, {l4(6), ir::Counter{}}),                                     // less specific: stays
      rule(5, {ir::Counter{}, l4(6), tcp22}),                              // counts first: stays
      rule(6, {saddr(5)}, b::jump("sub")),                                 // may change the mark
      rule(7, {l4(6), tcp22}),                                             // stays (after the jump)
      rule(8, {l4(6), tcp22}),                                             // shadowed by 7
      rule(9, {ir::SetMark{.value = 1}, saddr(7)}, ir::Verdict{}),         // sets the mark
      rule(10, {l4(6), tcp22}),                                            // stays
  });
  t.chains.push_back(ir::Chain{.name = "sub", .rules = {}});
  auto st = prune_rules(t);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->shadowed, 3u);
  EXPECT_EQ(handles(t.chains[0]), (std::vector<uint64_t>{1, 4, 5, 6, 7, 9, 10}));
  // The verdict that depends on it: mark 0 fails rule 1, rule 2 sets mark 1, rule 3 drops.
  ir::Match mark1 = b::eq(KnownField::kMetaMark, b::host32(1));
  ir::Table marks = table({rule(1, {mark1}, b::accept()), rule(2, {ir::SetMark{.value = 1}}, ir::Verdict{}),
                           rule(3, {mark1, ir::Counter{}})});
  ASSERT_TRUE(prune_rules(marks));
  EXPECT_EQ(marks.chains[0].rules.size(), 3u);
  eval::EvalState es;
  auto r = eval::evaluate(marks, eval::PacketContext{.family = ir::Family::kIp, .hook = ir::Hook::kInput},
                          Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).bytes(), es);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, ir::VerdictKind::kDrop);
  EXPECT_EQ(r->rule, 3u);
  // A random or time match may hold at one rule and not at the next: no shadow.
  ir::Field rnd{.base = ir::Base::kMeta, .len = 4, .key = static_cast<uint8_t>(ir::MetaKey::kRandom), .host_order = true};
  ir::Match coin{.key = {rnd}, .op = ir::Op::kLt, .value = b::host32(1u << 31)};
  ir::Table t2 = table({rule(1, {coin}), rule(2, {coin})});
  ASSERT_TRUE(prune_rules(t2));
  EXPECT_EQ(t2.chains[0].rules.size(), 2u);
}

// 100 000 rules that share a guard (every earlier rule is a candidate shadow): bounded work per
// rule, nothing removed wrongly; the last rule repeats the first and is shadowed.
TEST(PruneRules, LongChainsStayLinear) {
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 100000; ++i)
    rules.push_back(rule(i + 1, {l4(6), b::eq(KnownField::kIp4Saddr, b::be32(0x0a000000 + i)), ir::Counter{}}));
  rules.push_back(rule(200000, {l4(6), b::eq(KnownField::kIp4Saddr, b::be32(0x0a000000)), ir::Counter{}}));
  ir::Table t = table(std::move(rules));
  auto t0 = std::chrono::steady_clock::now();
  auto st = prune_rules(t);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->shadowed, 1u);
  EXPECT_EQ(st->removed(), 1u);
  EXPECT_EQ(t.chains[0].rules.size(), 100000u);
  std::printf("prune_rules on 100 001 rules: %.0f ms\n", ms);
}

// Random chains over a small space of values and shapes: every packet gets the same verdict and
// every counter the same value with and without the pass.
TEST(PruneRules, RandomChainsKeepVerdictsAndCounters) {
  std::mt19937 rng(20261128);  // fixed seed: deterministic
  size_t removed = 0, shadowed = 0;
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  // Half the matches come from a small pool, so that rules often repeat each other's matches
  // (shadowing) and marks are both tested and set.
  const std::vector<ir::Match> pool = {saddr(0x0a000001), l4(6), dport(ir::Op::kEq, 22),
                                       b::eq(KnownField::kMetaMark, b::host32(1)),
                                       b::eq(KnownField::kMetaMark, b::host32(0))};
  auto random_match = [&]() -> ir::Match {
    if (pick(2)) return pool[pick(static_cast<uint32_t>(pool.size()))];
    switch (pick(6)) {
      case 0: return saddr(0x0a000000 + pick(4));
      case 1: return saddr_prefix(0x0a000000 + (pick(2) << 1), 31);
      case 2: return l4(pick(2) ? 6 : 17);
      case 3: return dport(static_cast<ir::Op>(pick(6)), static_cast<uint16_t>(20 + pick(4)));
      case 4: return b::range(KnownField::kTcpDport, b::be16(uint16_t(20 + pick(4))), b::be16(uint16_t(20 + pick(4))));
      default: return b::eq(KnownField::kMetaMark, b::host32(pick(2)));
    }
  };
  for (int round = 0; round < 200; ++round) {
    std::vector<ir::Rule> rules;
    for (uint64_t h = 1; h <= 12; ++h) {
      std::vector<ir::Step> steps;
      uint32_t n = pick(4);
      if (pick(8) == 0) steps.push_back(ir::Counter{});
      for (uint32_t i = 0; i < n; ++i) steps.push_back(random_match());
      if (pick(6) == 0) steps.push_back(ir::SetMark{.value = pick(2)});
      if (pick(2)) steps.push_back(ir::Counter{});
      ir::Verdict v;
      switch (pick(6)) {
        case 0: v = b::accept(); break;
        case 1: v = b::drop(); break;
        case 2: v = b::jump("sub"); break;
        case 3: v = b::ret(); break;
        default: break;  // continue
      }
      rules.push_back(rule(h, std::move(steps), v));
    }
    ir::Table before = table(rules);
    before.chains[0].policy = pick(2) ? ir::VerdictKind::kAccept : ir::VerdictKind::kDrop;
    before.chains.push_back(ir::Chain{.name = "sub",
                                      .rules = {rule(50, {saddr(0x0a000001), ir::Counter{}}, b::accept()),
                                                rule(51, {ir::SetMark{.value = 1}}, ir::Verdict{})}});
    ir::Table after = before;
    auto st = prune_rules(after);
    ASSERT_TRUE(st);
    ASSERT_TRUE(ir::validate(after));
    removed += st->removed();
    shadowed += st->shadowed;
    eval::EvalState s1, s2;
    for (uint32_t src = 0; src < 4; ++src)
      for (uint16_t port = 19; port <= 24; ++port)
        for (uint32_t mark = 0; mark < 2; ++mark)
          for (bool udp : {false, true}) {
            Packet p = Packet::ipv4(dotted(0x0a000000 + src), "10.9.9.9");
            ir::Bytes pkt = udp ? p.udp(1000, port).bytes() : p.tcp(1000, port).bytes();
            eval::PacketContext ctx{.family = ir::Family::kIp, .hook = ir::Hook::kInput, .mark = mark};
            auto a = eval::evaluate(before, ctx, pkt, s1);
            auto c = eval::evaluate(after, ctx, pkt, s2);
            ASSERT_TRUE(a) << a.error().describe();
            ASSERT_TRUE(c) << c.error().describe();
            ASSERT_EQ(a->verdict, c->verdict) << "round " << round;
            ASSERT_EQ(a->rule, c->rule) << "round " << round;
            ASSERT_EQ(a->mark, c->mark) << "round " << round;
          }
    // Counters: the same for every rule kept; a removed rule's never moved.
    auto nonzero = [](const std::map<eval::StepRef, eval::CounterValue>& m) {
      std::map<eval::StepRef, eval::CounterValue> out;
      for (const auto& [k, v] : m)
        if (v.packets) out.emplace(k, v);
      return out;
    };
    ASSERT_EQ(nonzero(s1.counters), nonzero(s2.counters)) << "round " << round;
    ASSERT_EQ(s1.rule_matches, s2.rule_matches) << "round " << round;
  }
  EXPECT_GT(removed, 200u);  // the pass did act on these chains
  std::printf("random chains: %zu rules removed, %zu of them shadowed\n", removed, shadowed);
}

}  // namespace
}  // namespace nfbpf::translate::passes
