// Counter slots: the shared per-CPU counter map is sized by the daemon (nfbpfd --counter-slots,
// RuntimeTables::create), and a chain that needs more counters than it holds is refused with an
// error that says which slots ran out and which option sets them. FakeKernel: no root needed.
#include "codegen/chain/slots.h"

#include <gtest/gtest.h>

#include "codegen/chain/compile.h"
#include "codegen/chain/load.h"
#include "codegen/kernel/fake_kernel.h"
#include "translate/ir/build.h"

namespace nfbpf::codegen::chain {
namespace {

namespace b = ir::build;

// N rules `ip saddr 10.0.0.i counter accept`: one counter slot each.
ir::Table counting_rules(size_t n) {
  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  ir::Chain c{.name = "in", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kInput}};
  for (size_t i = 0; i < n; ++i)
    c.rules.push_back({.handle = i + 2,
                       .steps = {b::eq(ir::KnownField::kIp4Saddr, b::be32(0x0a000000u + uint32_t(i))), ir::Counter{}},
                       .verdict = b::accept()});
  t.chains.push_back(std::move(c));
  return t;
}

TEST(CounterSlots, TheMapAndTheAllocatorHaveTheConfiguredSize) {
  kernel::FakeKernel k;
  auto rt = RuntimeTables::create(k, 1000);
  ASSERT_TRUE(rt) << rt.error().describe();
  EXPECT_EQ(rt->slots.counters.capacity(), 1000u);
  EXPECT_EQ(rt->counters.capacity(), 1000u);
  auto dflt = RuntimeTables::create(k);
  ASSERT_TRUE(dflt) << dflt.error().describe();
  EXPECT_EQ(dflt->slots.counters.capacity(), kCounterSlots);
}

TEST(CounterSlots, AChainNeedingMoreCountersThanConfiguredIsRefusedNamingTheOption) {
  kernel::FakeKernel k;
  auto rt = RuntimeTables::create(k, 8);
  ASSERT_TRUE(rt) << rt.error().describe();
  CompileOptions o = rt->options();
  o.count_policy = false;
  // 8 counting rules fit 8 slots; 9 do not.
  auto fits = counting_rules(8);
  auto ok = compile_chain(fits, fits.chains[0], flavor::Flavor::kNetfilter, o);
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->counters.size(), 8u);
  auto more = counting_rules(9);
  more.name = "u";  // other keys: the 8 slots above are still taken
  auto refused = compile_chain(more, more.chains[0], flavor::Flavor::kNetfilter, o);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().err, ENOSPC);
  const std::string text = refused.error().describe();
  EXPECT_NE(text.find("all 8 counter slots are in use"), std::string::npos) << text;
  EXPECT_NE(text.find("--counter-slots"), std::string::npos) << text;
}

TEST(CounterSlots, OtherStateKeepsItsOwnMessage) {
  SlotAllocator quotas(1);
  ASSERT_TRUE(quotas.get(SlotKey{.handle = 1}));
  auto full = quotas.get(SlotKey{.handle = 2});
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().err, ENOSPC);
  EXPECT_EQ(full.error().msg, "all 1 state slots are in use");
}

}  // namespace
}  // namespace nfbpf::codegen::chain
