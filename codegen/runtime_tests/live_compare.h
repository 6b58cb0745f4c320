#pragma once
// Helpers shared by the live tests that compare our programs' counters with the kernel's own nft
// counters on the same packets (live_ct_test, live_meta_test) and by meta_clock_test.

#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "translate/ir/ir.h"

namespace nfbpf::codegen::runtime_tests {

// v's low n bytes, least significant first (a host-order register value on x86).
inline ir::Bytes le(uint64_t v, size_t n) {
  ir::Bytes r(n);
  for (size_t i = 0; i < n; ++i) r[i] = static_cast<uint8_t>(v >> (8 * i));
  return r;
}

inline ir::Match cmp(ir::Field f, ir::Op op, ir::Bytes v) {
  return ir::Match{.key = {f}, .op = op, .value = std::move(v)};
}

// "counter packets N" of each rule of `chain`, in order, from the kernel's `nft list` output.
inline std::vector<int64_t> kernel_counts(const std::string& listing, const std::string& chain) {
  std::vector<int64_t> out;
  auto at = listing.find("chain " + chain + " {");
  if (at == std::string::npos) return out;
  auto end = listing.find("\n\t}", at);
  std::string body = listing.substr(at, end - at);
  std::regex re("counter packets ([0-9]+)");
  for (std::sregex_iterator it(body.begin(), body.end(), re), e; it != e; ++it) out.push_back(std::stoll((*it)[1]));
  return out;
}

}  // namespace nfbpf::codegen::runtime_tests
