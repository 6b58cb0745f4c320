// translate/passes/classify under BPF (codegen/chain/classify.h): classified blocks give every
// packet the verdict of the same chain compiled rule by rule and of the reference evaluator, and
// every rule's counter slot counts exactly what the linear program's does.
#include <gtest/gtest.h>

#include <random>

#include "codegen/chain/classify.h"
#include "codegen/emit/disasm.h"
#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"
#include "translate/ir/build.h"
#include "translate/ir/test_fixtures.h"
#include "translate/passes/classify.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;
using ir::testing::dotted;
using ir::testing::rule;

constexpr uint32_t kNet = 0x0a000000;

uint64_t packets_of(const ChainRun& run, chain::RuntimeTables& rt, const chain::SlotKey& key) {
  for (const auto& u : run.compiled().counters)
    if (u.key == key) return rt.counters.read(u.slot)->packets;
  ADD_FAILURE() << "no counter slot for rule " << key.handle << " step " << key.step;
  return 0;
}

// The de Bruijn constant: every isolated bit maps to its own index, and back.
TEST(ClassifyCodegen, DeBruijnIndexGivesTheBit) {
  for (uint32_t i = 0; i < 64; ++i)
    EXPECT_EQ(chain::debruijn_bit(static_cast<uint32_t>(((uint64_t{1} << i) * 0x022fdd63cc95386dULL) >> 58)), i);
}

// Random chains: runs of rules over saddr prefixes, daddr, l4proto, dport (==, ranges, every
// ordered compare), counters, accept/drop/return, separated by rules that are not classifiable;
// blocks of 16-200 rules (1 to 4 bitmap words). Packets near every value the rules name, plus
// ICMP (no port: the wildcard bitmap), truncated TCP and non-first fragments.
TEST(ClassifyBpf, RandomBlocksGiveTheLinearVerdictsAndCounters) {
  kernel::LinuxKernel k;
  std::mt19937 rng(5050);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  size_t blocks = 0, checked = 0, decided = 0, counted = 0;  // counted: rules whose counter moved
  for (int round = 0; round < 6; ++round) {
    std::vector<ir::Rule> rules;
    uint64_t h = 1;
    for (int seg = 0; seg < 3; ++seg) {
      size_t n = 40 + pick(160);
      for (size_t i = 0; i < n; ++i) {
        rules.push_back(ir::testing::random_classifiable_rule(h++, kNet, 3, pick));
      }
      rules.push_back(rule(h++, {b::eq(KnownField::kIp4Daddr, b::be32(kNet + 0x100)), ir::Counter{}}, b::jump("sub")));
    }
    ir::Chain in{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput},
                 .policy = round % 2 ? ir::VerdictKind::kAccept : ir::VerdictKind::kDrop, .rules = std::move(rules)};
    ir::Chain sub{.name = "sub", .handle = 999, .rules = {rule(1000, {b::eq(KnownField::kMetaL4Proto, b::u8(17)), ir::Counter{}}, b::drop())}};
    ir::Table linear{.family = ir::Family::kIp, .name = "t", .chains = {std::move(in), std::move(sub)}};
    ir::Table cls = linear;
    translate::passes::ClassifyOptions o;
    o.min_rules = 16;
    o.max_rules = 64 + pick(140);
    o.lookup_ns = 1;  // whatever the cost: this tests the form
    auto st = translate::passes::classify_rules(cls, o);
    ASSERT_TRUE(st) << st.error().describe();
    ASSERT_GT(st->blocks, 2u);
    blocks += st->blocks;

    auto rt1 = chain::RuntimeTables::create(k);
    auto rt2 = chain::RuntimeTables::create(k);
    ASSERT_TRUE(rt1 && rt2);
    auto a = ChainRun::create(k, *rt1, linear, "in", Flavor::kNetfilter);
    auto c = ChainRun::create(k, *rt2, cls, "in", Flavor::kNetfilter);
    ASSERT_TRUE(a) << a.error().describe();
    ASSERT_TRUE(c) << c.error().describe();
    for (int i = 0; i < 400; ++i) {
      Packet p = Packet::ipv4(dotted(kNet + pick(0x140)), dotted(kNet + 0x100 + pick(5)));
      uint32_t kind = pick(6);
      uint16_t port = uint16_t(18 + pick(16));
      if (kind == 4) p.fragment(8, false);
      ir::Bytes bytes = kind == 0 || kind >= 3 ? p.tcp(1000, port).bytes() : kind == 1 ? p.udp(1000, port).bytes() : p.icmp(8, 0).bytes();
      if (kind == 3) bytes.resize(21);  // the port cannot be read
      TestPacket tp{bytes, 0, false};
      auto x = a->run_both(tp);
      auto y = c->run_both(tp);
      ASSERT_TRUE(x) << x.error().describe();
      ASSERT_TRUE(y) << y.error().describe();
      ASSERT_EQ(verdict_name(x->first), verdict_name(x->second)) << "linear BPF vs evaluator, round " << round << " packet " << i;
      ASSERT_EQ(verdict_name(y->first), verdict_name(x->first)) << "classified vs linear BPF, round " << round << " packet " << i;
      ASSERT_EQ(verdict_name(y->second), verdict_name(x->second)) << "evaluator, classified vs linear form";
      ++checked;
      if (a->last_eval()->rule) ++decided;
    }
    // Every counter: classified slot == linear slot == the evaluator's count.
    for (const auto& u : a->compiled().counters) {
      if (u.key.object == "policy") continue;
      uint64_t lin = rt1->counters.read(u.slot)->packets;
      EXPECT_EQ(packets_of(*c, *rt2, u.key), lin) << "rule " << u.key.handle;
      eval::StepRef ref{{"t", u.key.chain, u.key.handle}, u.key.step};
      auto e = a->eval_state().counters.find(ref);
      EXPECT_EQ(e == a->eval_state().counters.end() ? 0 : e->second.packets, lin) << "rule " << u.key.handle;
      counted += lin > 0;
    }
  }
  EXPECT_GT(counted, 40u);
  EXPECT_GT(blocks, 15u);
  EXPECT_GT(decided, checked / 2);
  std::printf("%zu blocks, %zu packets (%zu decided by a rule), %zu rules counted\n", blocks, checked, decided, counted);
}

// 2 000 `ip saddr A tcp dport P counter` rules (alternating drop/accept) through the pass's own
// cost model: one block of 32 words. The rules at the words' edges decide their packets, count
// once, and their neighbours stay at 0; ICMP and a wrong port fall to the policy.
TEST(ClassifyBpf, TwoThousandPairRulesOneBlockBoundaries) {
  kernel::LinuxKernel k;
  std::vector<ir::Rule> rules;
  for (uint32_t i = 0; i < 2000; ++i)
    rules.push_back(rule(i + 1, {b::eq(KnownField::kMetaL4Proto, b::u8(6)), b::eq(KnownField::kIp4Saddr, b::be32(kNet + i)),
                                 b::eq(KnownField::kTcpDport, b::be16(uint16_t(1000 + i % 100))), ir::Counter{}},
                         i % 2 ? b::accept() : b::drop()));
  ir::Chain in{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = ir::VerdictKind::kDrop,
               .rules = std::move(rules)};
  ir::Table t{.family = ir::Family::kIp, .name = "t", .chains = {std::move(in)}};
  auto st = translate::passes::classify_rules(t);
  ASSERT_TRUE(st) << st.error().describe();
  ASSERT_EQ(st->blocks, 1u);
  EXPECT_EQ(t.chains[0].rules[0].classified->words, 32u);
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt);
  if (getenv("NFBPF_DEBUG_DISASM")) {
    auto cc = chain::compile_chain(t, t.chains[0], Flavor::kNetfilter, rt->options());
    ASSERT_TRUE(cc);
    std::puts(emit::disassemble(cc->program).c_str());
  }
  auto run = ChainRun::create(k, *rt, t, "in", Flavor::kNetfilter);
  ASSERT_TRUE(run) << run.error().describe();
  std::printf("2 000 pair rules classified: %zu instructions\n", run->compiled().program.insns().size());
  EXPECT_LT(run->compiled().program.insns().size(), 1000u);
  auto key = [](uint64_t h) { return chain::SlotKey{ir::Family::kIp, "t", "in", h, 3, {}}; };
  for (uint32_t i : {0u, 1u, 62u, 63u, 64u, 127u, 128u, 511u, 512u, 1023u, 1024u, 1919u, 1920u, 1998u, 1999u}) {
    TestPacket tp{Packet::ipv4(dotted(kNet + i), "10.9.9.9").tcp(5, uint16_t(1000 + i % 100)).bytes(), 0, false};
    auto v = run->run_both(tp);
    ASSERT_TRUE(v) << v.error().describe();
    EXPECT_EQ(verdict_name(v->first), verdict_name(i % 2 ? ir::VerdictKind::kAccept : ir::VerdictKind::kDrop)) << i;
    EXPECT_EQ(verdict_name(v->second), verdict_name(v->first)) << i;
    EXPECT_EQ(packets_of(*run, *rt, key(i + 1)), 1u) << i;
    if (i + 1 < 2000) {
      EXPECT_EQ(packets_of(*run, *rt, key(i + 2)), 0u) << i + 1;  // not sent yet
    }
  }
  // No rule: a wrong port, UDP with the right port, ICMP (no port), an unknown source: the policy.
  for (ir::Bytes pkt : {Packet::ipv4(dotted(kNet + 5), "10.9.9.9").tcp(5, 1006).bytes(),
                        Packet::ipv4(dotted(kNet + 5), "10.9.9.9").udp(5, 1005).bytes(),
                        Packet::ipv4(dotted(kNet + 5), "10.9.9.9").icmp(8, 0).bytes(),
                        Packet::ipv4(dotted(kNet + 5000), "10.9.9.9").tcp(5, 1000).bytes()}) {
    auto v = run->run_both(TestPacket{pkt, 0, false});
    ASSERT_TRUE(v) << v.error().describe();
    EXPECT_EQ(verdict_name(v->first), "drop");
    EXPECT_EQ(verdict_name(v->second), "drop");
  }
  EXPECT_EQ(packets_of(*run, *rt, key(6)), 0u);
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
