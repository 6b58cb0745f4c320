// Every matcher case (cases.h: each field kind x each op) on every hook flavor that supports it:
// the packets eval::match_probes generates (just matching, just missing each boundary, other
// family, truncated, fragments, behind extension headers) go through the BPF program with
// BPF_PROG_TEST_RUN and through the reference evaluator; the verdicts must be equal. Cases a
// flavor does not support must be refused with EOPNOTSUPP at compile time, never compiled wrong.
#include <gtest/gtest.h>

#include <sched.h>

#include <map>
#include <set>

#include "codegen/emit/disasm.h"
#include "codegen/matcher/match.h"
#include "codegen/runtime_tests/cases.h"
#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

class MatcherTable : public ::testing::TestWithParam<Flavor> {};

// Values no test run can reproduce (the clock, the PRNG): compiled and loaded here, checked by
// meta_clock_test.cpp against the evaluator given the same clock.
bool not_reproducible(const std::string& kind) {
  return kind == "meta/random" || kind == "meta/time" || kind == "meta/day" || kind == "meta/hour";
}

// Keys whose kernel object a test run never has at this flavor: BPF and the evaluator agree that
// the rule breaks on every packet, so only one outcome is seen here; live_meta_test.cpp proves
// them on real traffic.
bool always_breaks_in_test_runs(const std::string& kind, Flavor f) {
  if (kind == "meta/skuid" || kind == "meta/skgid") return true;  // no struct socket
  if (kind.starts_with("meta/rt ")) return true;                   // no route
  if (kind.starts_with("ct/") && kind != "ct/state") return true;  // no conntrack entry (live_ct_test.cpp)
  if (f == Flavor::kNetfilter) return kind == "meta/iifgroup" || kind == "meta/cgroup";  // no in, no sk
  if (f == Flavor::kTcxIngress) return kind == "meta/oifgroup" || kind == "meta/oiftype";
  if (f == Flavor::kTcxEgress) return kind == "meta/iifgroup";
  return false;
}

TEST_P(MatcherTable, BpfAgreesWithTheEvaluatorOnEveryBoundary) {
  Flavor f = GetParam();
  // meta cpu: the evaluator's context says CPU 0; test runs execute on the calling thread's CPU.
  cpu_set_t cpu0;
  CPU_ZERO(&cpu0);
  CPU_SET(0, &cpu0);
  ASSERT_EQ(sched_setaffinity(0, sizeof cpu0, &cpu0), 0);
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  std::map<std::string, std::pair<int, int>> outcomes;  // kind -> (matches, misses)
  int ran = 0, refused = 0;
  for (const BaseCase& bc : base_cases()) {
    for (uint8_t o = 0; o < static_cast<uint8_t>(OpVariant::kCount); ++o) {
      MatcherCase mc = expand(bc, static_cast<OpVariant>(o), f);
      mc.table.chains[0].base->hook = hook_for(f);
      auto supported = matcher::match_supported(flavor::flavor_ops(f), mc.table, mc.match, rt->nfct_offset.has_value());
      auto run = ChainRun::create(k, *rt, mc.table, "c", f);
      // netdev tables (the link-layer cases) run at device hooks only: the compiler refuses
      // them at netfilter whatever the match.
      if (!supported || (f == Flavor::kNetfilter && mc.table.family == ir::Family::kNetdev)) {
        ASSERT_FALSE(run.has_value()) << mc.name << ": compiled although match_supported refuses it";
        EXPECT_EQ(run.error().err, EOPNOTSUPP) << mc.name << ": " << run.error().describe();
        ++refused;
        continue;
      }
      ASSERT_TRUE(run.has_value()) << mc.name << ": " << run.error().describe();
      if (not_reproducible(mc.kind)) {
        ++ran;
        continue;
      }
      eval::ProbeOptions opt;
      opt.ctx = context_for(f, hook_for(f), false, 0);
      auto probes = eval::match_probes(mc.table, mc.match, opt);
      ASSERT_TRUE(probes.has_value()) << mc.name << ": " << probes.error().describe();
      // Plus two plain packets, for values no packet can carry (the generator skips those).
      for (bool v6 : {false, true}) {
        auto pk = v6 ? packet::Packet::ipv6("2001:db8::1", "2001:db8::2") : packet::Packet::ipv4("10.1.2.30", "10.1.2.40");
        pk.tcp(40000, 22).flags(0x12);
        if (l2_flavor(f)) pk.ether();
        probes->push_back(eval::Probe{v6 ? "plain ipv6" : "plain ipv4", opt.ctx, pk.bytes(), false});
        probes->back().ctx.l2_len = static_cast<uint32_t>(pk.l2_len());
        probes->back().ctx.family = v6 ? ir::Family::kIp6 : ir::Family::kIp;
      }
      for (const auto& pr : *probes) {
        if (!run->applies(packet_of(pr)) || !run->runnable(packet_of(pr))) continue;
        auto got = run->run_both(packet_of(pr));
        ASSERT_TRUE(got.has_value()) << mc.name << " / " << pr.describe() << ": " << got.error().describe();
        EXPECT_EQ(verdict_name(got->first), verdict_name(got->second))
            << mc.name << " at " << flavor::flavor_name(f) << ": " << pr.describe() << " (bpf, eval)\n"
            << emit::disassemble(run->compiled().program);
        auto& oc = outcomes[mc.kind];
        (got->second == ir::VerdictKind::kAccept ? oc.first : oc.second)++;
      }
      ++ran;
    }
  }
  // Every kind that ran saw both outcomes (a test that can only agree on "miss" proves little).
  for (const auto& [kind, oc] : outcomes) {
    if (always_breaks_in_test_runs(kind, f)) {
      EXPECT_EQ(oc.first, 0) << kind << " matched at " << flavor::flavor_name(f) << " although test runs lack its object";
      continue;
    }
    EXPECT_GT(oc.first, 0) << kind << " never matched at " << flavor::flavor_name(f);
    EXPECT_GT(oc.second, 0) << kind << " never missed at " << flavor::flavor_name(f);
  }
  EXPECT_GT(ran, 50) << "refused " << refused;
  RecordProperty("cases_run", ran);
  RecordProperty("cases_refused", refused);
}

INSTANTIATE_TEST_SUITE_P(Flavors, MatcherTable, ::testing::ValuesIn(kAllFlavors),
                         [](const ::testing::TestParamInfo<Flavor>& p) { return std::string(flavor::flavor_name(p.param)); });

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
