// Big chains split into blocks (codegen/chain/blocks.h), loaded and run with BPF_PROG_TEST_RUN:
// verdicts on both sides of every block boundary equal the reference evaluator's, and each
// matching packet bumps exactly its own rule's counter once, whichever block counts it.
#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"
#include "translate/ir/build.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using ir::KnownField;
using ir::VerdictKind;
using packet::Packet;
namespace b = ir::build;

std::string addr(size_t i) {  // 10.x.y.z, one per rule
  uint32_t a = 0x0a000000u + uint32_t(i) + 1;
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}
uint16_t port(size_t i) { return uint16_t(1000 + i % 60000); }

TestPacket tcp4(const std::string& src, uint16_t dport) {
  return TestPacket{Packet::ipv4(src, "10.250.0.1").tcp(4000, dport).bytes(), 0, false};
}

// n rules, at the output hook (test runs are LOCAL_OUT), policy drop. pairs: `ip saddr A(i) tcp
// dport P(i)`; else `ip saddr A(i)` (a register run: one pending branch per rule); verdicts
// alternate accept/drop, so merge_runs could not merge either. Every
// kCountEvery-th rule also counts (keeps the test's counter slots few).
constexpr size_t kCountEvery = 32;
bool counted(size_t i) { return i % kCountEvery == 0; }

ir::Table big(size_t n, bool pairs) {
  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  ir::Chain c{.name = "in", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kOutput}, .policy = VerdictKind::kDrop};
  c.rules.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<ir::Step> steps{b::eq(KnownField::kIp4Saddr, *b::ip4(addr(i)))};
    if (pairs) {
      steps.push_back(b::eq(KnownField::kMetaL4Proto, b::u8(6)));
      steps.push_back(b::eq(KnownField::kTcpDport, b::be16(port(i))));
    }
    if (counted(i)) steps.push_back(ir::Counter{});
    c.rules.push_back({.handle = i + 2, .steps = std::move(steps), .verdict = i % 2 ? b::accept() : b::drop()});
  }
  t.chains.push_back(std::move(c));
  return t;
}

struct SplitRun : ::testing::Test {
  kernel::LinuxKernel k;
  std::optional<chain::RuntimeTables> rt;
  void SetUp() override {
    auto r = chain::RuntimeTables::create(k);
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    rt.emplace(std::move(*r));
  }
  uint64_t packets_of(const ChainRun& run, uint64_t handle) {
    for (const auto& u : run.compiled().counters)
      if (u.key.handle == handle && u.key.object.empty()) {
        auto c = rt->counters.read(u.slot);
        return c ? c->packets : ~0ull;
      }
    return ~0ull;
  }
  // Rules just before and at each boundary, the first and the last, each matched once; a miss
  // (right address, wrong port or no rule) reaches the policy.
  void check(ChainRun& run, size_t n, bool pairs) {
    const auto& starts = run.compiled().block_first_rule;
    // The rules on both sides of each boundary, and the counted rules nearest to it.
    std::vector<size_t> probe{0, n - 1};
    for (size_t s : starts)
      if (s > 0) probe.insert(probe.end(), {s - 1, s, (s - 1) / kCountEvery * kCountEvery, (s + kCountEvery - 1) / kCountEvery * kCountEvery});
    std::sort(probe.begin(), probe.end());  // each once, in order: later counters still 0
    probe.erase(std::unique(probe.begin(), probe.end()), probe.end());
    size_t counted_probes = 0;
    for (size_t i : probe) {
      if (i >= n) continue;
      SCOPED_TRACE(fmt::format("rule {} (handle {})", i, i + 2));
      // By hand: the evaluator (with its trace) takes seconds per packet over 100 000 rules.
      auto v = run.run_bpf(tcp4(addr(i), pairs ? port(i) : 1));
      ASSERT_TRUE(v.has_value()) << v.error().describe();
      EXPECT_EQ(*v, i % 2 ? VerdictKind::kAccept : VerdictKind::kDrop);
      if (!counted(i)) continue;
      EXPECT_EQ(packets_of(run, i + 2), 1u);
      if (i + kCountEvery < n) {
        EXPECT_EQ(packets_of(run, i + kCountEvery + 2), 0u);
      }
      ++counted_probes;
    }
    EXPECT_GE(counted_probes, starts.size());
    auto miss = run.run_bpf(tcp4(addr(n + 5), 1));
    ASSERT_TRUE(miss.has_value()) << miss.error().describe();
    EXPECT_EQ(*miss, VerdictKind::kDrop);
    if (pairs) {
      auto wrong_port = run.run_bpf(tcp4(addr(starts.back()), uint16_t(port(starts.back()) + 1)));
      ASSERT_TRUE(wrong_port.has_value());
      EXPECT_EQ(*wrong_port, VerdictKind::kDrop);
    }
  }
};

// Before blocks: "100 000 unmergeable rules fail to load (E2BIG)". 100 000 `ip saddr X
// accept/drop` (alternating: merge_runs cannot merge them) compile as one not-taken compare each
// ("if w1 == X goto hit": one pending verifier state per rule), so blocks of at most 7 500 rules
// chained by tail calls; the last rule is 14 tail calls away.
TEST_F(SplitRun, HundredThousandUnmergeableRulesLoadAndMatchAcrossBlocks) {
  const size_t n = 100'000;
  ir::Table t = big(n, false);
  auto t0 = std::chrono::steady_clock::now();
  auto run = ChainRun::create(k, *rt, t, "in", Flavor::kNetfilter);
  ASSERT_TRUE(run.has_value()) << run.error().describe();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& cc = run->compiled();
  uint64_t verified = 0, most = 0;
  for (size_t b = 0; b < cc.block_count(); ++b) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    ASSERT_EQ(bpf_obj_get_info_by_fd(b == 0 ? run->loaded().prog.fd() : run->loaded().blocks[b - 1].fd(), &info, &len), 0);
    verified += info.verified_insns;
    most = std::max<uint64_t>(most, info.verified_insns);
  }
  std::printf("100000 rules: %zu blocks, compile + load %.2f s, verifier processed %llu insns (most in one block %llu)\n",
              cc.block_count(), s, (unsigned long long)verified, (unsigned long long)most);
  EXPECT_GE(cc.block_count(), n / chain::BlockLimits{}.max_pending);
  EXPECT_LE(cc.block_count(), chain::kMaxBlocks);
  EXPECT_EQ(run->loaded().blocks.size(), cc.block_count() - 1);
  check(*run, n, false);
}

// `ip saddr A tcp dport P` compiles as one not-taken compare of the source address (a register
// run) and the rest of the rule as cold code that comes back to the run: one pending verifier
// state per rule, as a one-field rule. 2 000 here, with blocks of at most 400 pending states.
TEST_F(SplitRun, PairRulesSplitAcrossBlocks) {
  const size_t n = 2'000;
  ir::Table t = big(n, true);
  auto run = ChainRun::create(k, *rt, t, "in", Flavor::kNetfilter, {.max_pending = 400});
  ASSERT_TRUE(run.has_value()) << run.error().describe();
  EXPECT_GE(run->compiled().block_count(), 5u);
  check(*run, n, true);
}

// Pair rules load in blocks sized by the verifier's work: it explores each rule's cold body once
// per state the prologue leaves (~300 processed instructions per rule), so about 2 700 per block.
// Verifying is the slow part (~6 us per processed instruction on this shared machine: 20 000 pair
// rules took 36 s in 8 blocks, 100 s in 14 blocks before the cold-body shape), so 3 000 here; the
// last rule, a wrong port and an address no rule has give their verdicts, counters stay exact.
TEST_F(SplitRun, ThousandsOfPairRulesLoadInBlocksSizedByVerifierWork) {
  const size_t n = std::getenv("NFBPF_PAIR_RULES") ? std::stoul(std::getenv("NFBPF_PAIR_RULES")) : 3'000;
  ir::Table t = big(n, true);
  auto t0 = std::chrono::steady_clock::now();
  auto run = ChainRun::create(k, *rt, t, "in", Flavor::kNetfilter);
  ASSERT_TRUE(run.has_value()) << run.error().describe();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& cc = run->compiled();
  uint64_t verified = 0, most = 0;
  for (size_t b = 0; b < cc.block_count(); ++b) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    ASSERT_EQ(bpf_obj_get_info_by_fd(b == 0 ? run->loaded().prog.fd() : run->loaded().blocks[b - 1].fd(), &info, &len), 0);
    verified += info.verified_insns;
    most = std::max<uint64_t>(most, info.verified_insns);
  }
  std::printf("%zu pair rules: %zu blocks, compile + load %.2f s, verifier processed %llu insns (most in one block %llu)\n",
              n, cc.block_count(), s, (unsigned long long)verified, (unsigned long long)most);
  EXPECT_GE(cc.block_count(), 2u);
  EXPECT_LE(most, chain::BlockLimits{}.max_verify);
  const size_t last_counted = (n - 1) / kCountEvery * kCountEvery;
  EXPECT_EQ(packets_of(*run, last_counted + 2), 0u);
  for (size_t i : {n - 1, n - 2, cc.block_first_rule.back(), last_counted}) {
    SCOPED_TRACE(fmt::format("rule {}", i));
    auto v = run->run_bpf(tcp4(addr(i), port(i)));
    ASSERT_TRUE(v.has_value()) << v.error().describe();
    EXPECT_EQ(*v, i % 2 ? VerdictKind::kAccept : VerdictKind::kDrop);
  }
  EXPECT_EQ(packets_of(*run, last_counted + 2), 1u);
  // An accepting rule's address with another port: its cold body fails and goes back to the run,
  // which ends at the policy (drop); an address no rule has: the policy.
  const size_t accepting = (n - 1) % 2 ? n - 1 : n - 2;
  for (auto pkt : {tcp4(addr(accepting), uint16_t(port(accepting) + 1)), tcp4(addr(n + 5), port(n - 1))}) {
    auto v = run->run_bpf(pkt);
    ASSERT_TRUE(v.has_value()) << v.error().describe();
    EXPECT_EQ(*v, VerdictKind::kDrop);
  }
}

// Compiled only (loading would take minutes): 80 000 pair rules plan into at most 32 blocks (was
// 48 000 at most); 100 000 still need more and are refused, saying why.
TEST_F(SplitRun, EightyThousandPairRulesFitTheTailCallsAHundredThousandDoNot) {
  auto compile = [](size_t n) {
    ir::Table t = big(n, true);
    for (auto& r : t.chains[0].rules) r.steps.erase(std::remove_if(r.steps.begin(), r.steps.end(), [](const ir::Step& st) {
      return std::holds_alternative<ir::Counter>(st); }), r.steps.end());  // no counter slots needed
    chain::StateSlots slots;
    return chain::compile_chain(t, t.chains[0], Flavor::kNetfilter, {.slots = &slots});
  };
  auto ok = compile(80'000);
  ASSERT_TRUE(ok.has_value()) << ok.error().describe();
  EXPECT_LE(ok->block_count(), chain::kMaxBlocks);
  EXPECT_GE(ok->block_count(), 25u);
  auto cc = compile(100'000);
  ASSERT_FALSE(cc.has_value());
  EXPECT_EQ(cc.error().err, EOPNOTSUPP);
  EXPECT_NE(cc.error().describe().find("33 tail calls per packet"), std::string::npos) << cc.error().describe();
  EXPECT_NE(cc.error().describe().find("processed by the verifier"), std::string::npos) << cc.error().describe();
}

// Small blocks (a few hundred instructions) so that the boundaries fall between rules of every
// kind: a jump to a regular chain (a subprogram in each block that calls it), `return` (the
// policy, in any block), a named counter shared by rules of several blocks.
TEST_F(SplitRun, SmallBlocksKeepJumpsReturnsAndSharedCounters) {
  ir::Table t = big(60, true);
  t.chains.reserve(2);  // `rules` below must survive adding the regular chain
  for (auto& r : t.chains[0].rules)
    if (!std::holds_alternative<ir::Counter>(r.steps.back())) r.steps.push_back(ir::Counter{});
  auto& rules = t.chains[0].rules;
  for (size_t i = 0; i < rules.size(); i += 7) rules[i].verdict = b::jump("sub");
  for (size_t i = 3; i < rules.size(); i += 11) rules[i].verdict = b::ret();
  const ir::Step shared = ir::ObjectRef{.kind = "counter", .name = "shared"};
  for (size_t i = 5; i < rules.size(); i += 13) rules[i].steps.insert(rules[i].steps.end(), shared);
  ir::Chain sub{.name = "sub", .handle = 9};
  sub.rules.push_back({.handle = 1000, .steps = {b::eq(KnownField::kTcpDport, b::be16(port(14)))}, .verdict = b::accept()});
  sub.rules.push_back({.handle = 1001, .steps = {b::eq(KnownField::kTcpDport, b::be16(port(21)))}, .verdict = b::ret()});
  t.chains.push_back(sub);
  auto run = ChainRun::create(k, *rt, t, "in", Flavor::kNetfilter, {.max_insns = 600, .max_pending = 100});
  ASSERT_TRUE(run.has_value()) << run.error().describe();
  ASSERT_GE(run->compiled().block_count(), 4u);
  for (size_t i = 0; i < rules.size() + 2; ++i) {
    SCOPED_TRACE(fmt::format("rule {}", i));
    for (uint16_t p : {port(i), uint16_t(1)}) {
      auto v = run->run_both(tcp4(addr(i), p));
      ASSERT_TRUE(v.has_value()) << v.error().describe();
      EXPECT_EQ(v->first, v->second) << "port " << p;
    }
  }
  // Every counter (rule counters and the named one) equals the evaluator's, packets and bytes.
  auto& st = run->eval_state();
  std::set<chain::SlotKey> checked;
  for (const auto& u : run->compiled().counters) {
    auto c = rt->counters.read(u.slot);
    ASSERT_TRUE(c.has_value());
    eval::CounterValue want;
    if (u.key.object == "counter:shared") {
      want = st.named_counters[{"t", "shared"}];
    } else if (u.key.object.empty()) {
      want = st.counters[eval::StepRef{eval::RuleRef{"t", u.key.chain, u.key.handle}, u.key.step}];
    } else {
      continue;  // the policy's
    }
    EXPECT_EQ(c->packets, want.packets) << u.key.object << " handle " << u.key.handle;
    EXPECT_EQ(c->bytes, want.bytes) << u.key.object << " handle " << u.key.handle;
    checked.insert(u.key);
  }
  EXPECT_EQ(checked.size(), rules.size() + 1);  // the rules' and the named counter
  EXPECT_GT((st.named_counters[{"t", "shared"}].packets), 0u);
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
