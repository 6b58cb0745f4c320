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

}  // namespace nfbpf::ir::testing
