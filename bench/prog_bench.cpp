// ns/packet of generated programs, measured with BPF_PROG_TEST_RUN (the kernel's own per-run
// average over `repeat` runs), and the time to compile and load them.
//
// Chains: N rules `ip saddr 10.a.b.c drop` that the packet (saddr 192.0.2.1) does not match
// (linear: as written, merge_runs off; merged: after translate/passes/merge_runs, as nfbpfd runs
// them), N `ip saddr A tcp dport P drop` rules linear and classified (translate/passes/classify;
// probed with TCP to a port some rules name), the same N addresses as one hash set (`ip saddr @blocked drop`), and the floor: a bare
// 2-instruction program (r0 = accept; exit). Compiled with the daemon's options (no policy counter). Run as root; needs no namespace (test_run attaches nothing).
//
// Counters reported per benchmark:
//   ns_per_pkt   the kernel's duration for one run of the program (what docs/performance.md uses)
//   insns        instructions in the generated program
//   load_ms      compile + verify + load time (Load benchmarks)
#include <benchmark/benchmark.h>
#include <linux/netfilter.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include "codegen/chain/compile.h"
#include "codegen/chain/load.h"
#include "codegen/flavor/flavor.h"
#include "codegen/flavor/load.h"
#include "codegen/kernel/linux_kernel.h"
#include "common/packet/packet.h"
#include "translate/ir/build.h"
#include "translate/passes/classify.h"
#include "translate/passes/merge_runs.h"

namespace nfbpf::bench {
namespace {

using namespace codegen;
namespace b = ir::build;

constexpr uint32_t kRepeat = 200000;  // test_run averages over this many runs per iteration

ir::Bytes addr(uint32_t i) { return b::be32(0x0a000000u + i + 1); }  // 10.0.0.1, 10.0.0.2, ...

ir::Table linear_table(int64_t n) {
  ir::Table t{.family = ir::Family::kIp, .name = "bench"};
  ir::Chain c{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kOutput}};
  for (int64_t i = 0; i < n; ++i)
    c.rules.push_back(ir::Rule{.handle = uint64_t(i + 1),
                               .steps = {b::eq(ir::KnownField::kIp4Saddr, addr(uint32_t(i)))},
                               .verdict = b::drop()});
  t.chains.push_back(std::move(c));
  return t;
}

ir::Table merged_table(int64_t n) {
  ir::Table t = linear_table(n);
  if (auto r = translate::passes::merge_runs(t); !r) std::fprintf(stderr, "merge_runs: %s\n", r.error().describe().c_str());
  return t;
}

ir::Table set_table(int64_t n) {
  ir::Table t{.family = ir::Family::kIp, .name = "bench"};
  ir::Set s{.name = "blocked", .key_parts = {4}, .key_len = 4};
  for (int64_t i = 0; i < n; ++i) s.elements.push_back(ir::Element{.key = addr(uint32_t(i))});
  t.sets.push_back(std::move(s));
  ir::Chain c{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kOutput}};
  c.rules.push_back(ir::Rule{.handle = 1,
                             .steps = {b::in_set({ir::known_field(ir::KnownField::kIp4Saddr)}, "blocked")},
                             .verdict = b::drop()});
  t.chains.push_back(std::move(c));
  return t;
}

// N rules `ip saddr 10.a.b.c tcp dport P drop` (P = 1000 + i % 100; l4proto guard first, as nft
// lowers it): merge_runs cannot merge them (two fields vary). Linear: as written; classified:
// after translate/passes/classify (nfbpfd's default; NFBPF_CLASSIFY=0 gives linear).
ir::Table pair_table(int64_t n, bool classify) {
  ir::Table t{.family = ir::Family::kIp, .name = "bench"};
  ir::Chain c{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kOutput}};
  for (int64_t i = 0; i < n; ++i)
    c.rules.push_back(ir::Rule{.handle = uint64_t(i + 1),
                               .steps = {b::eq(ir::KnownField::kMetaL4Proto, b::u8(6)),
                                         b::eq(ir::KnownField::kIp4Saddr, addr(uint32_t(i))),
                                         b::eq(ir::KnownField::kTcpDport, b::be16(uint16_t(1000 + i % 100)))},
                               .verdict = b::drop()});
  t.chains.push_back(std::move(c));
  if (classify)
    if (auto r = translate::passes::classify_rules(t); !r) std::fprintf(stderr, "classify: %s\n", r.error().describe().c_str());
  return t;
}

// A TCP packet from 192.0.2.1 to port 1000: the l4proto and port compares of the pair rules hold
// for some rules, the address never.
const packet::Bytes& tcp_probe_packet() {
  static const packet::Bytes p = packet::Packet::ipv4("192.0.2.1", "192.0.2.2").tcp(1000, 1000).bytes();
  return p;
}

// The classifier's worst case: a TCP packet from rule 2047's address (the last of the first
// block) to rule 0's port. Every field's lookup hits, the AND is empty: all the block's bitmap
// words are scanned, then the packet goes on (accepted).
const packet::Bytes& scan_probe_packet() {
  static const packet::Bytes p = packet::Packet::ipv4("10.0.8.0", "192.0.2.2").tcp(1000, 1000).bytes();
  return p;
}

// A UDP packet from 192.0.2.1: matches none of the rules above.
const packet::Bytes& probe_packet() {
  static const packet::Bytes p = packet::Packet::ipv4("192.0.2.1", "192.0.2.2").udp(1000, 53).bytes();
  return p;
}

// One kernel seam and one set of runtime tables for the whole run, as in the daemon.
struct Env {
  kernel::LinuxKernel k;
  std::optional<chain::RuntimeTables> rt;
};

Env& env() {
  static Env* e = [] {
    auto* out = new Env;
    auto rt = chain::RuntimeTables::create(out->k);
    if (!rt) {
      std::fprintf(stderr, "bench: cannot create runtime tables: %s\n", rt.error().describe().c_str());
      std::exit(2);
    }
    out->rt.emplace(std::move(*rt));
    return out;
  }();
  return *e;
}

// What nfbpfd compiles with (offload_hook.cpp): no policy counter.
chain::CompileOptions options(Env& e, std::string name) {
  chain::CompileOptions o = e.rt->options(std::move(name));
  o.count_policy = false;
  return o;
}

void run_prog(benchmark::State& state, const kernel::Prog& prog, size_t insns, const packet::Bytes& probe = probe_packet()) {
  kernel::TestRunSpec spec{.data_in = probe, .repeat = kRepeat};
  double ns = 0;
  for (auto _ : state) {
    auto r = prog.test_run(spec);
    if (!r) {
      state.SkipWithError(r.error().describe().c_str());
      return;
    }
    if (r->retval != NF_ACCEPT) {
      state.SkipWithError("the probe packet was not accepted");
      return;
    }
    ns = r->duration_ns;
    state.SetIterationTime(double(r->duration_ns) * 1e-9 * kRepeat);
  }
  state.counters["ns_per_pkt"] = ns;
  state.counters["insns"] = double(insns);
}

void bench_table(benchmark::State& state, const ir::Table& t, const packet::Bytes& probe = probe_packet()) {
  Env& e = env();
  auto cc = chain::compile_chain(t, t.chains[0], flavor::Flavor::kNetfilter, options(e, "bench"));
  if (!cc) return state.SkipWithError(cc.error().describe().c_str());
  auto loaded = chain::load_chain(e.k, *cc, *e.rt);
  if (!loaded) return state.SkipWithError(loaded.error().describe().c_str());
  run_prog(state, loaded->prog, cc->program.insns().size(), probe);
  state.counters["blocks"] = double(1 + cc->blocks.size());
}

void BM_Floor(benchmark::State& state) {
  Env& e = env();
  emit::Program p("floor");
  p.ret(flavor::flavor_ops(flavor::Flavor::kNetfilter).accept);
  auto prog = flavor::load(e.k, flavor::Flavor::kNetfilter, p, {});
  if (!prog) return state.SkipWithError(prog.error().describe().c_str());
  run_prog(state, *prog, p.insns().size());
}

// The 1-rule chain and the bare program on the L2 flavors too (XDP, TCX ingress): same probe
// packet in an Ethernet frame, the chain in a netdev ingress table.
const packet::Bytes& probe_frame() {
  static const packet::Bytes p = packet::Packet::ipv4("192.0.2.1", "192.0.2.2").udp(1000, 53).ether().bytes();
  return p;
}

void run_l2(benchmark::State& state, flavor::Flavor f, bool with_rule) {
  Env& e = env();
  const auto& ops = flavor::flavor_ops(f);
  std::optional<kernel::Prog> prog;
  size_t insns = 0;
  if (with_rule) {
    ir::Table t = linear_table(1);
    t.family = ir::Family::kNetdev;
    t.chains[0].base->hook = ir::Hook::kIngress;
    auto cc = chain::compile_chain(t, t.chains[0], f, options(e, "bench_l2"));
    if (!cc) return state.SkipWithError(cc.error().describe().c_str());
    auto loaded = chain::load_chain(e.k, *cc, *e.rt);
    if (!loaded) return state.SkipWithError(loaded.error().describe().c_str());
    insns = cc->program.insns().size();
    prog.emplace(std::move(loaded->prog));
  } else {
    emit::Program p("floor_l2");
    p.ret(ops.accept);
    auto loaded = flavor::load(e.k, f, p, {});
    if (!loaded) return state.SkipWithError(loaded.error().describe().c_str());
    insns = p.insns().size();
    prog.emplace(std::move(*loaded));
  }
  kernel::TestRunSpec spec{.data_in = probe_frame(), .repeat = kRepeat};
  double ns = 0;
  for (auto _ : state) {
    auto r = prog->test_run(spec);
    if (!r) return state.SkipWithError(r.error().describe().c_str());
    if (int32_t(r->retval) != ops.accept) return state.SkipWithError("the probe frame was not passed");
    ns = r->duration_ns;
    state.SetIterationTime(double(r->duration_ns) * 1e-9 * kRepeat);
  }
  state.counters["ns_per_pkt"] = ns;
  state.counters["insns"] = double(insns);
}
void BM_XdpFloor(benchmark::State& s) { run_l2(s, flavor::Flavor::kXdp, false); }
void BM_XdpOneRule(benchmark::State& s) { run_l2(s, flavor::Flavor::kXdp, true); }
void BM_TcxFloor(benchmark::State& s) { run_l2(s, flavor::Flavor::kTcxIngress, false); }
void BM_TcxOneRule(benchmark::State& s) { run_l2(s, flavor::Flavor::kTcxIngress, true); }

void BM_LinearSaddr(benchmark::State& state) { bench_table(state, linear_table(state.range(0))); }
void BM_MergedSaddr(benchmark::State& state) { bench_table(state, merged_table(state.range(0))); }
void BM_SetSaddr(benchmark::State& state) { bench_table(state, set_table(state.range(0))); }
void BM_LinearPair(benchmark::State& state) { bench_table(state, pair_table(state.range(0), false), tcp_probe_packet()); }
void BM_ClassifiedPair(benchmark::State& state) { bench_table(state, pair_table(state.range(0), true), tcp_probe_packet()); }
void BM_ClassifiedPairScan(benchmark::State& state) { bench_table(state, pair_table(state.range(0), true), scan_probe_packet()); }

// Compile + verify + load, per chain size (a fresh program each iteration).
void load_time(benchmark::State& state, const ir::Table& t) {
  Env& e = env();
  size_t insns = 0;
  for (auto _ : state) {
    auto cc = chain::compile_chain(t, t.chains[0], flavor::Flavor::kNetfilter, options(e, "bench"));
    if (!cc) return state.SkipWithError(cc.error().describe().c_str());
    auto loaded = chain::load_chain(e.k, *cc, *e.rt);
    if (!loaded) return state.SkipWithError(loaded.error().describe().c_str());
    insns = cc->program.insns().size();
  }
  state.counters["insns"] = double(insns);
}
void BM_LoadLinear(benchmark::State& state) { load_time(state, linear_table(state.range(0))); }
void BM_LoadMerged(benchmark::State& state) { load_time(state, merged_table(state.range(0))); }
void BM_LoadSet(benchmark::State& state) { load_time(state, set_table(state.range(0))); }
void BM_LoadLinearPair(benchmark::State& state) { load_time(state, pair_table(state.range(0), false)); }
void BM_LoadClassifiedPair(benchmark::State& state) { load_time(state, pair_table(state.range(0), true)); }

BENCHMARK(BM_Floor)->UseManualTime()->Iterations(5);
BENCHMARK(BM_XdpFloor)->UseManualTime()->Iterations(5);
BENCHMARK(BM_XdpOneRule)->UseManualTime()->Iterations(5);
BENCHMARK(BM_TcxFloor)->UseManualTime()->Iterations(5);
BENCHMARK(BM_TcxOneRule)->UseManualTime()->Iterations(5);
BENCHMARK(BM_LinearSaddr)->Arg(0)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->UseManualTime()->Iterations(5);
BENCHMARK(BM_MergedSaddr)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->UseManualTime()->Iterations(5);
BENCHMARK(BM_SetSaddr)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->UseManualTime()->Iterations(5);
BENCHMARK(BM_LinearPair)->Arg(100)->Arg(1000)->Arg(10000)->UseManualTime()->Iterations(5);
BENCHMARK(BM_ClassifiedPair)->Arg(100)->Arg(1000)->Arg(10000)->UseManualTime()->Iterations(5);
BENCHMARK(BM_ClassifiedPairScan)->Arg(10000)->UseManualTime()->Iterations(5);
BENCHMARK(BM_LoadLinear)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_LoadMerged)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_LoadSet)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_LoadLinearPair)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_LoadClassifiedPair)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace nfbpf::bench

BENCHMARK_MAIN();
