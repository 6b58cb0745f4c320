#pragma once
// Test-only helpers shared by the pass tests (translate/passes/*_test.cpp) and the BPF runtime
// tests of the same passes (codegen/runtime_tests/*_test.cpp), which built the same rules and
// addresses with copies of these two functions. Header-only: no library links it.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "translate/ir/build.h"
#include "translate/ir/ir.h"

namespace nfbpf::ir::testing {

// A host-order IPv4 address as "a.b.c.d" (for packet::Packet::ipv4).
inline std::string dotted(uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

// A rule with these steps and verdict (drop unless given).
inline Rule rule(uint64_t handle, std::vector<Step> steps, Verdict v = build::drop()) {
  return Rule{.handle = handle, .steps = std::move(steps), .verdict = std::move(v)};
}

// A random rule of the shapes classify_rules takes (test_fixtures for its pass and BPF tests): a
// saddr prefix, a daddr, l4proto, a dport compare (==, range, any ordered op), each maybe; a counter
// unless pick(counter_odds) is 0, sometimes a second (nfbpf verify's instrumented rules); return,
// accept or drop. `pick(n)` draws in [0, n); the draws are in a fixed order, so a seed keeps its chains.
template <class Pick>
Rule random_classifiable_rule(uint64_t handle, uint32_t net, uint32_t counter_odds, Pick&& pick) {
  namespace b = build;
  std::vector<Step> steps;
  if (pick(6)) steps.push_back(b::prefix(KnownField::kIp4Saddr, b::be32(net + (pick(64) << 2)), 30 + pick(3)));
  if (pick(3) == 0) steps.push_back(b::eq(KnownField::kIp4Daddr, b::be32(net + 0x100 + pick(4))));
  uint32_t l4 = pick(3);
  if (l4) steps.push_back(b::eq(KnownField::kMetaL4Proto, b::u8(l4 == 1 ? 6 : 17)));
  switch (pick(4)) {
    case 0: steps.push_back(b::cmp(KnownField::kTcpDport, Op::kEq, b::be16(uint16_t(20 + pick(12))))); break;
    case 1: steps.push_back(b::range(KnownField::kTcpDport, b::be16(uint16_t(20 + pick(8))), b::be16(uint16_t(24 + pick(8))))); break;
    case 2: steps.push_back(b::cmp(KnownField::kTcpDport, static_cast<Op>(pick(6)), b::be16(uint16_t(20 + pick(12))))); break;
    default: break;
  }
  if (pick(counter_odds)) steps.push_back(Counter{});
  if (pick(4) == 0) steps.push_back(Counter{});
  Verdict v = pick(8) == 0 ? b::ret() : pick(2) ? b::accept() : b::drop();
  return rule(handle, std::move(steps), v);
}

}  // namespace nfbpf::ir::testing
