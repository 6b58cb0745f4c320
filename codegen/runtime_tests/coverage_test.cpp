// Coverage: every (field kind, op, flavor) that codegen says it supports must have a case in the
// runtime matcher table (cases.h), so a new capability cannot land untested. Field kinds are
// enumerated from the IR itself (every payload base and width, every meta and ct key).
#include <gtest/gtest.h>

#include <set>

#include "codegen/matcher/match.h"
#include "codegen/runtime_tests/cases.h"
#include "codegen/runtime_tests/harness.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

TEST(MatcherCoverage, EverySupportedFieldOpAndFlavorHasACase) {
  std::set<std::string> covered;
  for (const auto& bc : base_cases()) covered.insert(bc.kind);
  int supported = 0;
  for (Flavor f : kAllFlavors) {
    for (const auto& [kind, key] : all_field_kinds()) {
      ir::Bytes value;
      for (const auto& fld : key) value.resize(value.size() + (key.size() > 1 ? (fld.len + 3) & ~3u : fld.len), 0x10);
      BaseCase probe{kind, ir::Family::kInet, key, value};
      for (uint8_t o = 0; o < static_cast<uint8_t>(OpVariant::kCount); ++o) {
        MatcherCase mc = expand(probe, static_cast<OpVariant>(o), f);
        if (!matcher::match_supported(flavor::flavor_ops(f), mc.table, mc.match, true)) continue;
        ++supported;
        EXPECT_TRUE(covered.contains(kind))
            << kind << " " << op_name(static_cast<OpVariant>(o)) << " at " << flavor::flavor_name(f)
            << " is supported by codegen but has no case in codegen/runtime_tests/cases.cpp";
      }
    }
  }
  EXPECT_GT(supported, 500);
}

// And the other way round: each case in the table is supported somewhere (no dead cases).
TEST(MatcherCoverage, EveryCaseRunsOnSomeFlavor) {
  for (const auto& bc : base_cases()) {
    bool anywhere = false;
    for (Flavor f : kAllFlavors) {
      MatcherCase mc = expand(bc, OpVariant::kEq, f);
      anywhere = anywhere || matcher::match_supported(flavor::flavor_ops(f), mc.table, mc.match, true).has_value();
    }
    EXPECT_TRUE(anywhere) << bc.kind;
  }
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
