// Random small rulesets (several matches per rule, sets, jumps/gotos/returns into regular chains,
// counters) against random packets (IPv4/IPv6, TCP/UDP, truncated, fragments): the BPF verdict
// must equal the reference evaluator's, on netfilter and XDP. Deterministic seeds, so a failure
// names a reproducible case.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "codegen/emit/disasm.h"
#include "codegen/matcher/match.h"
#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"
#include "translate/ir/build.h"
#include "translate/ir/printer.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using ir::KnownField;
namespace b = ir::build;

struct Gen {
  std::mt19937 rng;
  explicit Gen(uint32_t seed) : rng(seed) {}
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }
  bool coin(int percent) { return static_cast<int>(pick(100)) < percent; }

  const char* addr4() { static const char* a[] = {"10.0.0.1", "10.0.0.2", "192.168.1.1", "10.0.1.1"}; return a[pick(4)]; }
  const char* addr6() { static const char* a[] = {"2001:db8::1", "2001:db8::2", "2001:db8:1::1"}; return a[pick(3)]; }
  uint16_t port() { static const uint16_t p[] = {22, 53, 80, 443}; return p[pick(4)]; }

  // A field and a value some packets carry.
  std::pair<ir::Field, ir::Bytes> field_value() {
    switch (pick(9)) {
      case 0: return {ir::known_field(KnownField::kIp4Saddr), *b::ip4(addr4())};
      case 1: return {ir::known_field(KnownField::kIp4Daddr), *b::ip4(addr4())};
      case 2: return {ir::known_field(KnownField::kTcpDport), b::be16(port())};
      case 3: return {ir::known_field(KnownField::kTcpSport), b::be16(port())};
      case 4: return {ir::known_field(KnownField::kMetaL4Proto), b::u8(pick(2) ? 6 : 17)};
      case 5: return {ir::known_field(KnownField::kIp6Saddr), *b::ip6(addr6())};
      case 6: return {ir::known_field(KnownField::kMetaLen), b::host32(static_cast<uint32_t>(40 + pick(3) * 20))};
      case 7: return {ir::known_field(KnownField::kTcpFlags), b::u8(static_cast<uint8_t>(pick(2) ? 0x02 : 0x12))};
      default: return {ir::Field{.base = ir::Base::kTransport, .offset = 1, .len = 3, .proto = ir::Proto::kTcp},
                       {0x40, 0, static_cast<uint8_t>(port())}};
    }
  }

  ir::Match match(ir::Table& t) {
    auto [f, v] = field_value();
    ir::Match m{.key = {f}};
    switch (pick(7)) {
      case 0: m.op = ir::Op::kEq; m.value = v; break;
      case 1: m.op = ir::Op::kNe; m.value = v; break;
      case 2: m.op = ir::Op::kLt; m.value = v; break;
      case 3: m.op = ir::Op::kGe; m.value = v; break;
      case 4: {
        m.op = pick(2) ? ir::Op::kRange : ir::Op::kNotRange;
        m.value = v;
        m.value_hi = v;
        m.value_hi.back() = static_cast<uint8_t>(m.value_hi.back() | 0x0f);
        m.value.back() = static_cast<uint8_t>(m.value.back() & 0xf0);
        break;
      }
      case 5: {
        m.op = ir::Op::kEq;
        m.mask = b::prefix_mask(static_cast<uint32_t>(v.size()), static_cast<uint32_t>(v.size() * 8 - 4));
        m.value = v;
        for (size_t i = 0; i < v.size(); ++i) m.value[i] &= (*m.mask)[i];
        break;
      }
      default: {
        std::string name = "s" + std::to_string(t.sets.size());
        bool interval = f.len > 1 && !f.host_order && pick(2);
        ir::Set s{.name = name, .flags = interval ? static_cast<uint32_t>(ir::kSetInterval) : 0u, .key_parts = {f.len}, .key_len = f.len};
        ir::Bytes other = v;
        other.back() ^= 1;
        if (interval) {
          ir::Bytes lo = v, hi = v;
          lo.back() = 0;
          hi.back() = 0x7f;
          s.elements.push_back({.key = lo, .key_end = hi});
        } else {
          s.elements.push_back({.key = v});
          s.elements.push_back({.key = other});
        }
        t.sets.push_back(s);
        m.op = pick(3) ? ir::Op::kInSet : ir::Op::kNotInSet;
        m.set = name;
      }
    }
    return m;
  }

  ir::Verdict verdict(const std::vector<std::string>& targets) {
    switch (pick(targets.empty() ? 4 : 6)) {
      case 0: return b::accept();
      case 1: return b::drop();
      case 2: return ir::Verdict{};
      case 3: return b::ret();
      case 4: return b::jump(targets[pick(targets.size())]);
      default: return b::go_to(targets[pick(targets.size())]);
    }
  }

  std::vector<ir::Rule> rules(ir::Table& t, const std::vector<std::string>& targets, uint64_t& handle) {
    std::vector<ir::Rule> out;
    size_t n = 1 + pick(4);
    for (size_t i = 0; i < n; ++i) {
      ir::Rule r{.handle = handle++};
      size_t steps = pick(3) + (pick(4) == 0 ? 0 : 1);
      for (size_t s = 0; s < steps; ++s) r.steps.push_back(match(t));
      if (coin(30)) r.steps.push_back(ir::Counter{});
      r.verdict = verdict(targets);
      out.push_back(std::move(r));
    }
    return out;
  }

  ir::Table table(ir::Family fam, ir::Hook hook) {
    ir::Table t{.family = fam, .name = "t"};
    uint64_t handle = 1;
    // Regular chains: "r1" may jump to "r2" (no loops), the base chain to both.
    ir::Chain r2{.name = "r2", .handle = handle++};
    r2.rules = rules(t, {}, handle);
    ir::Chain r1{.name = "r1", .handle = handle++};
    r1.rules = rules(t, {"r2"}, handle);
    ir::Chain in{.name = "in", .handle = handle++, .base = ir::BaseHook{.hook = hook},
                 .policy = pick(2) ? ir::VerdictKind::kAccept : ir::VerdictKind::kDrop};
    in.rules = rules(t, {"r1", "r2"}, handle);
    t.chains = {in, r1, r2};
    return t;
  }

  TestPacket packet(bool l2) {
    bool v6 = coin(35);
    auto p = v6 ? packet::Packet::ipv6(addr6(), addr6()) : packet::Packet::ipv4(addr4(), addr4());
    if (v6 && coin(20)) p.hop_by_hop();
    if (coin(10)) p.fragment(8, false);
    if (pick(2)) p.tcp(port(), port()).flags(pick(2) ? 0x02 : 0x12);
    else p.udp(port(), port());
    p.payload_size(pick(3) * 20);
    if (coin(10)) p.truncate((v6 ? 40 : 20) + pick(16));
    if (l2) p.ether();
    return TestPacket{p.bytes(), l2 ? 14u : 0u, v6};
  }
};

TEST(RandomChains, BpfAgreesWithTheEvaluator) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value());
  int compiled = 0, drops = 0, accepts = 0;
  for (uint32_t seed = 1; seed <= 150; ++seed) {
    for (Flavor f : {Flavor::kNetfilter, Flavor::kXdp}) {
      Gen g(seed);
      ir::Table t = g.table(f == Flavor::kXdp ? ir::Family::kNetdev : ir::Family::kInet, hook_for(f));
      auto run = ChainRun::create(k, *rt, t, "in", f);
      if (!run && std::getenv("NFBPF_DUMP")) {
        auto cc = chain::compile_chain(t, t.chains[0], f, rt->options());
        if (cc) std::puts(emit::disassemble(cc->program).c_str());
      }
      if (!run) {
        // Only honest refusals are allowed (e.g. a stack budget); never a load failure.
        ASSERT_EQ(run.error().err, EOPNOTSUPP) << "seed " << seed << ": " << run.error().describe() << "\n"
                                               << ir::to_string(t);
        continue;
      }
      ++compiled;
      for (int i = 0; i < 25; ++i) {
        TestPacket pk = g.packet(l2_flavor(f));
        if (!run->runnable(pk)) continue;
        auto got = run->run_both(pk);
        ASSERT_TRUE(got.has_value()) << "seed " << seed << ": " << got.error().describe();
        ASSERT_EQ(verdict_name(got->first), verdict_name(got->second))
            << "seed " << seed << " packet " << i << " at " << flavor::flavor_name(f) << ": "
            << (pk.l2_len ? packet::describe_frame(pk.frame) : packet::describe_l3(pk.frame)) << " (bpf, eval)\n"
            << ir::to_string(t);
        (got->first == ir::VerdictKind::kDrop ? drops : accepts)++;
      }
    }
  }
  EXPECT_GT(compiled, 250);
  EXPECT_GT(drops, 500);
  EXPECT_GT(accepts, 500);
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
