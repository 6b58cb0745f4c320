// classify: bitmap tables for hand-made blocks, their LPM form, the cost model, and on random
// blocks (fixed seed) that the first set bit is the rule linear evaluation (the reference
// evaluator on the same rules) decides by, for every packet.
#include "translate/passes/classify.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/ir/build.h"
#include "translate/ir/test_fixtures.h"

namespace nfbpf::translate::passes {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;
using ir::testing::dotted;
using ir::testing::rule;

ir::Match dport(ir::Op op, uint16_t p) { return b::cmp(KnownField::kTcpDport, op, b::be16(p)); }

std::vector<size_t> bits_of(const Bitmap& m) {
  std::vector<size_t> out;
  for (size_t i = 0; i < m.bits(); ++i)
    if (m.test(i)) out.push_back(i);
  return out;
}

TEST(Classify, BitmapAndAndLowest) {
  Bitmap a = Bitmap::all(130), c(130);
  c.set(129);
  c.set(70);
  EXPECT_EQ(a.lowest(), 0u);
  a &= c;
  EXPECT_EQ(a.lowest(), 70u);
  a.clear(70);
  EXPECT_EQ(a.lowest(), 129u);
  EXPECT_FALSE(Bitmap(5).lowest());
}

TEST(Classify, SegmentsCarryTheRulesEachValueAdmits) {
  std::vector<ir::Rule> rules = {
      rule(1, {dport(ir::Op::kEq, 22)}),
      rule(2, {b::range(KnownField::kTcpDport, b::be16(20), b::be16(30)), ir::Counter{}}, b::accept()),
      rule(3, {b::eq(KnownField::kIp4Saddr, b::be32(0x0a000001))}),
  };
  auto c = build_classifier(rules);
  ASSERT_TRUE(c) << c.error().describe();
  ASSERT_EQ(c->fields.size(), 2u);
  const FieldTable& port = c->fields[0];
  EXPECT_EQ(port.field, ir::known_field(KnownField::kTcpDport));
  EXPECT_FALSE(port.exact_only);
  EXPECT_EQ(bits_of(port.wildcard), std::vector<size_t>{2});
  ASSERT_EQ(port.segments.size(), 5u);
  using V = std::vector<size_t>;
  EXPECT_EQ(port.segments[0].hi, Number{19});
  EXPECT_EQ(bits_of(port.segments[0].rules), V{2});
  EXPECT_EQ(bits_of(port.segments[1].rules), (V{1, 2}));
  EXPECT_EQ(port.segments[2].lo, Number{22});
  EXPECT_EQ(port.segments[2].hi, Number{22});
  EXPECT_EQ(bits_of(port.segments[2].rules), (V{0, 1, 2}));
  EXPECT_EQ(bits_of(port.segments[3].rules), (V{1, 2}));
  EXPECT_EQ(port.segments[4].hi, Number{0xffff});
  EXPECT_EQ(bits_of(port.lookup(25)), (V{1, 2}));
  // LPM form: [20,21] [22] [23,30] as prefixes of a 16-bit field; the rest misses (wildcard).
  std::vector<std::pair<uint32_t, uint32_t>> lpm;
  for (const auto& p : port.lpm_entries()) lpm.emplace_back(static_cast<uint32_t>(p.value), p.bits);
  EXPECT_EQ(lpm, (std::vector<std::pair<uint32_t, uint32_t>>{{20, 15}, {22, 16}, {23, 16}, {24, 14}, {28, 15}, {30, 16}}));
  const FieldTable& src = c->fields[1];
  EXPECT_TRUE(src.exact_only);
  EXPECT_EQ(bits_of(src.wildcard), (V{0, 1}));
  EXPECT_EQ(bits_of(src.lookup(0x0a000001)), (V{0, 1, 2}));
}

TEST(Classify, NestedPrefixesAdmitEveryEnclosingRule) {
  std::vector<ir::Rule> rules = {
      rule(1, {b::prefix(KnownField::kIp4Saddr, b::be32(0x0a010000), 16), dport(ir::Op::kEq, 80)}),
      rule(2, {b::prefix(KnownField::kIp4Saddr, b::be32(0x0a000000), 8)}, b::accept()),
  };
  auto c = build_classifier(rules);
  ASSERT_TRUE(c);
  const FieldTable& src = c->fields[0];
  using V = std::vector<size_t>;
  EXPECT_EQ(bits_of(src.lookup(0x0a010203)), (V{0, 1}));
  EXPECT_EQ(bits_of(src.lookup(0x0a020304)), V{1});
  EXPECT_TRUE(bits_of(src.lookup(0x0b000000)).empty());
  auto lpm = src.lpm_entries();
  // 10.0/16, 10.1/16, and [10.2.0.0, 10.255.255.255] as 10.2/15 10.4/14 ... 10.128/9 (7);
  // outside 10/8 no rule: the wildcard (empty), no entry.
  EXPECT_EQ(lpm.size(), 9u);
}

TEST(Classify, ShapesItRefuses) {
  EXPECT_FALSE(classifiable(rule(1, {dport(ir::Op::kEq, 1)}, b::jump("x"))));
  EXPECT_FALSE(classifiable(rule(1, {ir::Counter{}, dport(ir::Op::kEq, 1)})));
  EXPECT_FALSE(classifiable(rule(1, {b::in_set({ir::known_field(KnownField::kIp4Saddr)}, "s")})));
  EXPECT_FALSE(classifiable(rule(1, {b::masked(KnownField::kIp4Saddr, b::be32(0xff00ff00), ir::Op::kEq, b::be32(0))})));
  EXPECT_TRUE(classifiable(rule(1, {dport(ir::Op::kGt, 1), dport(ir::Op::kNe, 7), ir::Counter{}}, b::ret())));
  std::vector<ir::Rule> bad = {rule(1, {ir::Log{}})};
  EXPECT_FALSE(build_classifier(bad));
}

TEST(Classify, CostModelAndBlockSplitting) {
  ir::Chain c{.name = "in"};
  uint64_t h = 1;
  for (uint32_t i = 0; i < 2500; ++i)
    c.rules.push_back(rule(h++, {b::eq(KnownField::kIp4Saddr, b::be32(i)), dport(ir::Op::kEq, uint16_t(i))}));
  c.rules.push_back(rule(h++, {ir::Log{}}, ir::Verdict{}));
  for (uint32_t i = 0; i < 40; ++i)
    c.rules.push_back(rule(h++, {b::eq(KnownField::kIp4Saddr, b::be32(i)), dport(ir::Op::kEq, uint16_t(i))}));
  auto blocks = plan_blocks(c);
  ASSERT_EQ(blocks.size(), 2u);  // 2048 + 452; the 40 after the log rule stay linear
  EXPECT_EQ(blocks[0].begin, 0u);
  EXPECT_EQ(blocks[0].end, 2048u);
  EXPECT_EQ(blocks[1].end, 2500u);
  EXPECT_EQ(blocks[1].fields, 2u);
  ClassifyOptions small;
  small.max_rules = 1024;
  EXPECT_EQ(plan_blocks(c, small).size(), 3u);  // 1024 + 1024 + 452
  // Building one full block: its size and cost (a compile-time budget, printed for the docs).
  auto t0 = std::chrono::steady_clock::now();
  auto cl = build_classifier(std::span<const ir::Rule>(c.rules).subspan(0, 1024));
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(cl);
  size_t entries = 0;
  for (const auto& f : cl->fields) entries += f.lpm_entries().size();
  EXPECT_EQ(entries, 2048u);  // one exact value per rule and field: one /32 or /16 prefix each
  std::printf("classifier of 1 024 rules x 2 fields: %zu LPM entries of %zu-byte bitmaps, built in %.1f ms\n", entries,
              cl->fields[0].wildcard.words().size() * 8, ms);
  // 70 rules of 40 compares each: 2 800 compares (840 ns) cost less than 40 lookups (1 000 ns).
  ir::Chain wide{.name = "w"};
  for (uint32_t i = 0; i < 70; ++i) {
    std::vector<ir::Step> steps;
    for (uint32_t f = 0; f < 40; ++f) steps.push_back(ir::Match{.key = {ir::Field{.base = ir::Base::kNetwork, .offset = f, .len = 1}}, .value = {uint8_t(i)}});
    wide.rules.push_back(rule(i + 1, std::move(steps)));
  }
  EXPECT_TRUE(plan_blocks(wide).empty());
}

// Random blocks over a small value space, checked packet by packet against the evaluator.
TEST(Classify, FirstSetBitIsTheRuleLinearEvaluationDecidesBy) {
  std::mt19937 rng(8128);  // fixed seed: deterministic
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  constexpr uint32_t kNet = 0x0a000000;
  size_t matched = 0, unmatched = 0;
  for (int round = 0; round < 30; ++round) {
    std::vector<ir::Rule> rules;
    size_t n = 100 + pick(300);
    for (uint64_t h = 1; h <= n; ++h) {
      std::vector<ir::Step> steps;
      if (pick(6)) steps.push_back(b::prefix(KnownField::kIp4Saddr, b::be32(kNet + (pick(64) << 2)), 30 + pick(3)));
      if (pick(3) == 0) steps.push_back(b::eq(KnownField::kIp4Daddr, b::be32(kNet + 0x100 + pick(4))));
      uint32_t l4 = pick(3);
      if (l4) steps.push_back(b::eq(KnownField::kMetaL4Proto, b::u8(l4 == 1 ? 6 : 17)));
      switch (pick(4)) {
        case 0: steps.push_back(dport(ir::Op::kEq, uint16_t(20 + pick(12)))); break;
        case 1: steps.push_back(b::range(KnownField::kTcpDport, b::be16(uint16_t(20 + pick(8))), b::be16(uint16_t(24 + pick(8))))); break;
        case 2: steps.push_back(dport(static_cast<ir::Op>(pick(6)), uint16_t(20 + pick(12)))); break;
        default: break;
      }
      if (pick(2)) steps.push_back(ir::Counter{});
      rules.push_back(rule(h, std::move(steps), pick(2) ? b::accept() : b::drop()));
    }
    auto c = build_classifier(rules);
    ASSERT_TRUE(c) << c.error().describe();
    // The LPM form gives each field's lookup for every value tried.
    for (const auto& f : c->fields) {
      auto lpm = f.lpm_entries();
      const uint32_t width = 8 * f.field.len;
      for (int k = 0; k < 200; ++k) {
        Number v = f.field.len == 1 ? pick(256) : f.field.len == 2 ? pick(64) : kNet + pick(0x140);
        const Bitmap* got = &f.wildcard;
        uint32_t best = 0;
        bool hit = false;
        for (const auto& p : lpm) {
          Number host = p.bits >= width ? 0 : ((Number{1} << (width - p.bits)) - 1);
          if ((v & ~host) == p.value && (!hit || p.bits > best)) {
            hit = true;
            best = p.bits;
            got = &f.segments[p.segment].rules;
          }
        }
        ASSERT_EQ(*got, f.lookup(v));
      }
    }
    ir::Table t{.family = ir::Family::kIp, .name = "t",
                .chains = {ir::Chain{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .rules = rules}}};
    eval::PacketContext ctx{.family = ir::Family::kIp, .hook = ir::Hook::kInput};
    for (int k = 0; k < 300; ++k) {
      Packet p = Packet::ipv4(dotted(kNet + pick(0x140)), dotted(kNet + 0x100 + pick(5)));
      uint32_t kind = pick(3);
      uint16_t port = uint16_t(18 + pick(16));
      ir::Bytes pkt = kind == 0 ? p.tcp(1000, port).bytes() : kind == 1 ? p.udp(1000, port).bytes() : p.icmp(8, 0).bytes();
      // Loads as nft does them on this unfragmented IPv4 packet (ihl 5).
      auto load = [&](const ir::Field& f) -> std::optional<ir::Bytes> {
        if (f.base == ir::Base::kMeta) return ir::Bytes{pkt[9]};
        size_t off = (f.base == ir::Base::kTransport ? 20 : 0) + f.offset;
        if (off + f.len > pkt.size()) return std::nullopt;
        return ir::Bytes(pkt.begin() + long(off), pkt.begin() + long(off + f.len));
      };
      eval::EvalState st;
      auto linear = eval::evaluate(t, ctx, pkt, st);
      ASSERT_TRUE(linear) << linear.error().describe();
      auto first = c->first_match(load);
      std::optional<uint64_t> handle = first ? std::optional<uint64_t>(rules[*first].handle) : std::nullopt;
      ASSERT_EQ(handle, linear->rule) << "round " << round << " packet " << k;
      ++(handle ? matched : unmatched);
    }
  }
  // Both outcomes occur often (the comparison would prove little otherwise).
  EXPECT_GT(matched, 3000u);
  EXPECT_GT(unmatched, 100u);
  std::printf("random blocks: %zu packets matched a rule, %zu none\n", matched, unmatched);
}

}  // namespace
}  // namespace nfbpf::translate::passes
