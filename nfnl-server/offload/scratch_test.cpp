#include <gtest/gtest.h>
#include <cstdio>
#include "codegen/chain/compile.h"
#include "codegen/emit/disasm.h"
#include "translate/ir/fields.h"
#include "codegen/chain/load.h"
#include "codegen/kernel/linux_kernel.h"
#include "codegen/kernel/testing/packets.h"
namespace nfbpf {
TEST(Scratch, Dis) {
  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  ir::Chain c{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput}};
  ir::Rule rule{.handle = 2};
  ir::Match m;
  m.key = {ir::Field{.base = ir::Base::kNetwork, .offset = 12, .len = 4}};
  m.op = ir::Op::kEq;
  m.value = {10, 99, 0, 1};

  rule.steps.push_back(m);
  rule.verdict = ir::Verdict{.kind = ir::VerdictKind::kDrop};
  c.rules.push_back(rule);
  t.chains.push_back(c);
  codegen::chain::StateSlots slots;
  auto cc = codegen::chain::compile_chain(t, t.chains[0], codegen::flavor::Flavor::kNetfilter, {.slots = &slots});
  ASSERT_TRUE(cc) << cc.error().describe();
  codegen::kernel::LinuxKernel k;
  auto rt = codegen::chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt);
  auto cc2 = codegen::chain::compile_chain(t, t.chains[0], codegen::flavor::Flavor::kNetfilter, rt->options());
  std::string log;
  auto l = codegen::chain::load_chain(k, *cc2, *rt, &log);
  ASSERT_TRUE(l) << l.error().describe();
  for (const char* src : {"10.99.0.1", "10.99.0.3"}) {
    auto pkt = codegen::testing::ipv4_udp(src, "10.99.0.2");
    auto r = l->prog.test_run({.data_in = pkt});
    ASSERT_TRUE(r) << r.error().describe();
    std::printf("%s -> %d\n", src, int(r->retval));
  }
  std::puts(log.substr(log.size() > 3000 ? log.size() - 3000 : 0).c_str());
}
}
