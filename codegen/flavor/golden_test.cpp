// Golden disassembly of each flavor's prologue, a constant and a variable slice and a counter:
// the code every generated chain starts with, kept reviewable. Regenerate with
// NFBPF_UPDATE_GOLDEN=1 (then read the diff).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "codegen/emit/disasm.h"
#include "codegen/flavor/packet.h"
#include "codegen/runtime/counters.h"

#ifndef NFBPF_CODEGEN_TESTDATA
#error "NFBPF_CODEGEN_TESTDATA must name codegen/testdata"
#endif

namespace nfbpf::codegen::flavor {
namespace {

using emit::Reg;

std::string sample(const FlavorOps& f) {
  emit::Program p(std::string(f.name));
  emit::MapRef ctr = p.map(runtime::kCountersMapName);
  emit::Label accept(p);
  f.emit_packet_init(p, accept);
  emit_slice(p, f, 12, 4, accept);  // ip saddr
  p.ldx(emit::Size::kW, Reg::R7, Reg::R0, 0);
  p.mov(Reg::R8, 20);
  emit_slice_at(p, f, Reg::R8, 2, 2, accept);  // "th dport" at ihl * 4 + 2
  runtime::emit_count(p, ctr, 3);
  p.ret(f.drop);
  p.bind(accept);
  p.ret(f.accept);
  EXPECT_TRUE(p.check().has_value());
  return emit::disassemble(p);
}

class FlavorGolden : public ::testing::TestWithParam<Flavor> {};

TEST_P(FlavorGolden, MatchesTestdata) {
  const FlavorOps& f = flavor_ops(GetParam());
  std::string path = std::string(NFBPF_CODEGEN_TESTDATA) + "/flavor_" + std::string(f.name) + ".insn";
  std::string got = sample(f);
  if (std::getenv("NFBPF_UPDATE_GOLDEN")) {
    std::ofstream(path) << got;
    GTEST_SUCCEED() << "updated " << path;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing " << path << " (run with NFBPF_UPDATE_GOLDEN=1)";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(got, want.str()) << "regenerate with NFBPF_UPDATE_GOLDEN=1 if intended";
}

INSTANTIATE_TEST_SUITE_P(AllFlavors, FlavorGolden,
                         ::testing::Values(Flavor::kNetfilter, Flavor::kXdp, Flavor::kTcxIngress,
                                           Flavor::kTcxEgress, Flavor::kCgroupSkbIngress,
                                           Flavor::kCgroupSkbEgress),
                         [](const auto& p) { return std::string(flavor_name(p.param)); });

}  // namespace
}  // namespace nfbpf::codegen::flavor
