// Golden disassembly of two small compiled chains (netfilter, ip family): what the chain compiler
// emits around the flavor prologue, kept reviewable. Regenerate with NFBPF_UPDATE_GOLDEN=1 (then
// read the diff). Behaviour is tested in codegen/runtime_tests; this only pins the shape.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "codegen/chain/compile.h"
#include "codegen/emit/disasm.h"
#include "translate/ir/build.h"

#ifndef NFBPF_CODEGEN_TESTDATA
#error "NFBPF_CODEGEN_TESTDATA must name codegen/testdata"
#endif

namespace nfbpf::codegen::chain {
namespace {

using ir::KnownField;
namespace b = ir::build;

ir::Table ssh_table() {
  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  ir::Chain c{.name = "input", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = ir::VerdictKind::kDrop};
  c.rules.push_back({.handle = 2, .steps = {b::eq(KnownField::kIp4Saddr, *b::ip4("10.0.0.1")), ir::Counter{}}, .verdict = b::drop()});
  c.rules.push_back({.handle = 3, .steps = {b::eq(KnownField::kMetaL4Proto, b::u8(6)), b::eq(KnownField::kTcpDport, b::be16(22))},
                     .verdict = b::accept()});
  t.chains.push_back(c);
  return t;
}

ir::Table jump_set_table() {
  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  ir::Set s{.name = "blocked", .flags = ir::kSetInterval, .key_parts = {4}, .key_len = 4};
  s.elements.push_back({.key = *b::ip4("192.0.2.0"), .key_end = *b::ip4("192.0.2.255")});
  t.sets.push_back(s);
  ir::Chain c{.name = "input", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = ir::VerdictKind::kAccept};
  c.rules.push_back({.handle = 2, .steps = {b::in_set({ir::known_field(KnownField::kIp4Daddr)}, "blocked")}, .verdict = b::drop()});
  c.rules.push_back({.handle = 3, .steps = {}, .verdict = b::jump("udp")});
  t.chains.push_back(c);
  ir::Chain u{.name = "udp", .handle = 4};
  u.rules.push_back({.handle = 5, .steps = {b::eq(KnownField::kUdpDport, b::be16(53))}, .verdict = b::accept()});
  t.chains.push_back(u);
  return t;
}

void check_golden(const std::string& name, const ir::Table& t) {
  StateSlots slots;
  auto cc = compile_chain(t, t.chains[0], flavor::Flavor::kNetfilter, {.slots = &slots});
  ASSERT_TRUE(cc.has_value()) << cc.error().describe();
  std::string got = emit::disassemble(cc->program);
  std::string path = std::string(NFBPF_CODEGEN_TESTDATA) + "/chain_" + name + ".insn";
  if (std::getenv("NFBPF_UPDATE_GOLDEN")) {
    std::ofstream(path) << got;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing " << path << " (run with NFBPF_UPDATE_GOLDEN=1)";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(got, want.str()) << "regenerate with NFBPF_UPDATE_GOLDEN=1 if intended";
}

TEST(ChainGolden, SshChain) { check_golden("ssh", ssh_table()); }
TEST(ChainGolden, JumpAndIntervalSet) { check_golden("jump_set", jump_set_table()); }

// The interval decomposition the LPM maps rely on: minimal prefixes, at most 2W - 2.
TEST(ChainSets, IntervalPrefixes) {
  auto p = interval_prefixes({10, 0, 0, 0}, {10, 0, 0, 255});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].first, 24u);
  p = interval_prefixes({0, 1}, {0, 6});  // 1, 2-3, 4-5, 6
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].first, 16u);
  EXPECT_EQ(p[1].first, 15u);
  EXPECT_EQ(p[2].first, 15u);
  EXPECT_EQ(p[3].first, 16u);
  p = interval_prefixes({0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xfe});
  EXPECT_EQ(p.size(), 62u);  // the worst case for 32 bits
  p = interval_prefixes({0, 0}, {0xff, 0xff});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].first, 0u);
}

}  // namespace
}  // namespace nfbpf::codegen::chain
