// Splitting big chains into blocks (blocks.h): the planner's decisions, and what compile_chain
// makes of a chain that does not fit one program. Loading and running blocks is tested as root in
// codegen/runtime_tests/blocks_test.cpp.
#include "codegen/chain/blocks.h"

#include <gtest/gtest.h>

#include <set>

#include "codegen/chain/compile.h"
#include "codegen/emit/disasm.h"
#include "translate/ir/build.h"

namespace nfbpf::codegen::chain {
namespace {

namespace b = ir::build;

std::vector<RuleCost> costs(size_t n, size_t insns, bool pending) { return std::vector<RuleCost>(n, RuleCost{insns, pending}); }

TEST(PlanBlocks, OneBlockWhenEverythingFits) {
  auto c = costs(100, 10, true);
  EXPECT_TRUE(fits_one_program(c, 50, {.max_insns = 1050, .max_pending = 100}));
  EXPECT_FALSE(fits_one_program(c, 51, {.max_insns = 1050, .max_pending = 100}));
  EXPECT_FALSE(fits_one_program(c, 0, {.max_insns = 5000, .max_pending = 99}));
  auto p = plan_blocks(c, 50, {.max_insns = 1050, .max_pending = 100});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, std::vector<size_t>{0});
}

TEST(PlanBlocks, CutsByInstructionsCountingTheFixedPartInEveryBlock) {
  // 100 rules of 10 instructions, 50 fixed per block, 300 per block: 25 rules per block.
  auto p = plan_blocks(costs(100, 10, false), 50, {.max_insns = 300, .max_pending = 1000});
  ASSERT_TRUE(p.has_value()) << p.error().describe();
  EXPECT_EQ(*p, (std::vector<size_t>{0, 25, 50, 75}));
}

TEST(PlanBlocks, CutsByPendingBranches) {
  // Pending rules at most 3 per block; the non-pending ones do not count.
  std::vector<RuleCost> c;
  for (int i = 0; i < 10; ++i) c.push_back({1, i % 2 == 0});  // pending at 0, 2, 4, 6, 8
  auto p = plan_blocks(c, 0, {.max_insns = 1000, .max_pending = 3});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, (std::vector<size_t>{0, 6}));
}

TEST(PlanBlocks, ARuleOverTheBudgetGetsABlockOfItsOwn) {
  std::vector<RuleCost> c{{10, false}, {500, false}, {10, false}};
  auto p = plan_blocks(c, 0, {.max_insns = 100, .max_pending = 10});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, (std::vector<size_t>{0, 1, 2}));
}

TEST(PlanBlocks, MoreBlocksThanTailCallsAreRefused) {
  // 33 blocks of one rule each: one too many for 33 tail calls with the dispatcher's.
  auto p = plan_blocks(costs(33, 100, false), 0, {.max_insns = 100, .max_pending = 10});
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().err, EOPNOTSUPP);
  EXPECT_NE(p.error().msg.find("33 programs"), std::string::npos) << p.error().msg;
  EXPECT_NE(p.error().msg.find("at most 32"), std::string::npos) << p.error().msg;
  EXPECT_TRUE(plan_blocks(costs(32, 100, false), 0, {.max_insns = 100, .max_pending = 10}).has_value());
}

// Counting rules: the kernel patches each inlined counter lookup by moving the whole program, so
// blocks are also kept under instructions x calls (6 000 `ip saddr X counter` rules: one 84 252-insn
// program loaded in 6.5 s, 4 blocks in 1.6 s).
TEST(PlanBlocks, CountingRulesAreCutByLoadWork) {
  std::vector<RuleCost> c(6000, RuleCost{.insns = 14, .pending = 1, .calls = 1});
  EXPECT_FALSE(fits_one_program(c, 100));
  auto p = plan_blocks(c, 100);
  ASSERT_TRUE(p.has_value()) << p.error().describe();
  EXPECT_EQ(p->size(), 4u);  // 14 n x n <= 40 000 000: about 1 690 rules per block
  // Without calls the same rules fit one program by every budget.
  std::vector<RuleCost> plain(6000, RuleCost{.insns = 5, .pending = 1});
  EXPECT_TRUE(fits_one_program(plain, 100));
}

// The verifier's work is assumed verify_per_insn per instruction while that fits max_blocks;
// beyond, the hard budgets alone decide (capacity before load time); verify_scale (raised after an
// E2BIG) shrinks the blocks.
TEST(PlanBlocks, SoftVerifierBudgetGivesWayToCapacity) {
  std::vector<RuleCost> c(1000, RuleCost{.insns = 80});
  auto soft = plan_blocks(c, 0);  // 80 000 insns x 24 = 1.9 M: blocks of 416 rules
  ASSERT_TRUE(soft.has_value());
  EXPECT_EQ(soft->size(), 3u);
  auto scaled = plan_blocks(c, 0, {.verify_scale = 4});
  ASSERT_TRUE(scaled.has_value());
  EXPECT_EQ(scaled->size(), 10u);  // 104 rules per block
  std::vector<RuleCost> many(100'000, RuleCost{.insns = 20});  // 2 M insns: the soft budget needs 60 blocks
  auto hard = plan_blocks(many, 0);
  ASSERT_TRUE(hard.has_value()) << hard.error().describe();
  EXPECT_EQ(hard->size(), 8u);  // 250 000 insns per block
}

// N rules `ip saddr 10.0.x.y [tcp dport P] counter <accept|drop>`, alternating verdicts.
ir::Table table(size_t n, bool with_port) {
  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  ir::Chain c{.name = "in", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kOutput}};
  for (size_t i = 0; i < n; ++i) {
    std::vector<ir::Step> steps{b::eq(ir::KnownField::kIp4Saddr, b::be32(0x0a000000u + uint32_t(i)))};
    if (with_port) {
      steps.push_back(b::eq(ir::KnownField::kMetaL4Proto, b::u8(6)));
      steps.push_back(b::eq(ir::KnownField::kTcpDport, b::be16(uint16_t(1000 + i % 50000))));
    }
    steps.push_back(ir::Counter{});
    c.rules.push_back({.handle = i + 2, .steps = std::move(steps), .verdict = i % 2 ? b::accept() : b::drop()});
  }
  t.chains.push_back(std::move(c));
  return t;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(SplitChain, ASmallChainIsOneProgram) {
  StateSlots slots;
  auto t = table(100, true);
  auto cc = compile_chain(t, t.chains[0], flavor::Flavor::kNetfilter, {.slots = &slots});
  ASSERT_TRUE(cc.has_value()) << cc.error().describe();
  EXPECT_EQ(cc->block_count(), 1u);
  EXPECT_TRUE(cc->block_first_rule.empty());
  EXPECT_EQ(count(emit::disassemble(cc->program), "bpf_tail_call"), 0u);
}

TEST(SplitChain, BlocksChainByTailCallsAndCoverEveryRuleOnce) {
  StateSlots slots;
  auto t = table(1000, true);
  CompileOptions o{.slots = &slots};
  o.blocks.max_insns = 5000;
  auto cc = compile_chain(t, t.chains[0], flavor::Flavor::kNetfilter, o);
  ASSERT_TRUE(cc.has_value()) << cc.error().describe();
  ASSERT_GE(cc->block_count(), 4u) << cc->program.insns().size();
  ASSERT_EQ(cc->block_first_rule.size(), cc->block_count());
  EXPECT_EQ(cc->block_first_rule[0], 0u);
  for (size_t k = 0; k < cc->block_count(); ++k) {
    const emit::Program& p = k == 0 ? cc->program : cc->blocks[k - 1];
    std::string text = emit::disassemble(p);
    EXPECT_LE(p.insns().size(), o.blocks.max_insns + 200) << "block " << k;  // the plan's estimate
    bool last = k + 1 == cc->block_count();
    EXPECT_EQ(count(text, "bpf_tail_call"), last ? 0u : 1u) << "block " << k;
    if (!last) {
      EXPECT_NE(text.find("r3 = " + std::to_string(k + 1) + "\n"), std::string::npos) << "block " << k;
    }
    if (k > 0) {
      EXPECT_GT(cc->block_first_rule[k], cc->block_first_rule[k - 1]);
    }
  }
  // One counter per rule and the policy's, each allocated fresh (initialised on load), none twice.
  std::set<SlotKey> keys;
  for (const SlotUse& u : cc->counters) {
    EXPECT_TRUE(u.fresh) << u.key.handle;
    EXPECT_TRUE(keys.insert(u.key).second) << "twice: rule " << u.key.handle;
  }
  EXPECT_EQ(keys.size(), 1001u);
  EXPECT_EQ(cc->policy_counters.size(), 1u);
}

TEST(SplitChain, LinearRunsSplitByPendingBranches) {
  // `ip saddr X counter drop` compile to one pending branch each after the run's first rule.
  StateSlots slots;
  auto t = table(1000, false);
  CompileOptions o{.slots = &slots};
  o.blocks.max_pending = 300;
  auto cc = compile_chain(t, t.chains[0], flavor::Flavor::kNetfilter, o);
  ASSERT_TRUE(cc.has_value()) << cc.error().describe();
  // 1000 rules: each block's first rule loads the field (counted as 2: its miss and its
  // unreadable-field jump), then ~298 pending "if w1 == X goto hit".
  EXPECT_EQ(cc->block_count(), 4u);
  ASSERT_EQ(cc->block_first_rule.size(), 4u);
  EXPECT_GE(cc->block_first_rule[1], 295u);
  EXPECT_LE(cc->block_first_rule[1], 300u);
  std::string text = emit::disassemble(cc->program);
  EXPECT_EQ(count(text, "if w1 == "), cc->block_first_rule[1] - 1);
}

TEST(SplitChain, TooBigIsRefusedNamingTheLimit) {
  StateSlots slots;
  auto t = table(2000, true);
  CompileOptions o{.slots = &slots};
  o.blocks.max_insns = 500;
  auto cc = compile_chain(t, t.chains[0], flavor::Flavor::kNetfilter, o);
  ASSERT_FALSE(cc.has_value());
  EXPECT_EQ(cc.error().err, EOPNOTSUPP);
  EXPECT_NE(cc.error().describe().find("tail calls"), std::string::npos) << cc.error().describe();
}

TEST(SplitChain, SeveralBaseChainsAtOneHookCapThePendingBranches) {
  StateSlots slots;
  auto t1 = table(1000, false), t2 = table(10, false);
  t2.name = "u";
  CompileOptions o{.slots = &slots};
  o.blocks.max_pending = 300;
  auto cc = compile_hook({{&t1, &t1.chains[0]}, {&t2, &t2.chains[0]}}, flavor::Flavor::kNetfilter, o);
  ASSERT_TRUE(cc.has_value()) << cc.error().describe();
  EXPECT_EQ(cc->block_count(), 1u);
  EXPECT_EQ(count(emit::disassemble(cc->program), "if w1 == "), 300u);
}

}  // namespace
}  // namespace nfbpf::codegen::chain
