#include "codegen/kernel/fake_kernel.h"

#include <gtest/gtest.h>

#include "codegen/abi/counter.h"
#include "codegen/kernel/loader.h"
#include "codegen/kernel/objects.h"
#include "codegen/runtime/counters.h"

namespace nfbpf::codegen::kernel {
namespace {

TEST(FakeKernel, HashMapUpdateLookupDelete) {
  FakeKernel k;
  auto m = Map::create(k, MapSpec{.type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 8,
                                  .max_entries = 2, .name = "h"});
  ASSERT_TRUE(m.has_value());
  uint32_t key = 1;
  uint64_t v = 42, out = 0;
  ASSERT_TRUE(m->update(&key, &v).has_value());
  ASSERT_TRUE(m->lookup(&key, &out).has_value());
  EXPECT_EQ(out, 42u);
  EXPECT_EQ(m->update(&key, &v, BPF_NOEXIST).error().err, EEXIST);
  ASSERT_TRUE(m->remove(&key).has_value());
  EXPECT_EQ(m->lookup(&key, &out).error().err, ENOENT);
}

TEST(FakeKernel, PerCpuValuesSpanAllCpus) {
  FakeKernel k;
  k.cpus = 3;
  auto t = runtime::CounterTable::create(k, 4);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->map().value_bytes(), 3 * sizeof(abi::Counter));
  // Simulate the kernel having counted on CPUs 0 and 2.
  abi::Counter per_cpu[3] = {{2, 120}, {0, 0}, {5, 300}};
  uint32_t slot = 1;
  ASSERT_TRUE(k.map_update(t->map().fd(), &slot, per_cpu, BPF_ANY).has_value());
  auto c = t->read(1);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->packets, 7u);
  EXPECT_EQ(c->bytes, 420u);
}

TEST(FakeKernel, CounterSlotsAreStableAndReused) {
  FakeKernel k;
  auto t = runtime::CounterTable::create(k, 2);
  ASSERT_TRUE(t.has_value());
  auto a = t->allocate();
  auto b = t->allocate();
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(t->allocate().error().err, ENOSPC);
  ASSERT_TRUE(t->write(*b, {9, 900}).has_value());
  t->release(*a);
  auto c = t->allocate();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(*c, *a);
  EXPECT_EQ(t->read(*b)->packets, 9u);  // untouched by the reuse of another slot
  EXPECT_EQ(t->read(*c)->packets, 0u);  // a reused slot starts at zero
}

TEST(FakeKernel, LoadProgramResolvesFixups) {
  FakeKernel k;
  auto m = Map::create(k, MapSpec{.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8,
                                  .max_entries = 1, .name = "a"});
  ASSERT_TRUE(m.has_value());
  emit::Program p("x");
  p.ld_map_fd(emit::Reg::R1, p.map("a"));
  p.call_kfunc(emit::Kfunc::kDynptrSize);
  p.ret(0);
  auto prog = load_program(k, p, {.type = BPF_PROG_TYPE_XDP}, {{"a", &*m}});
  ASSERT_TRUE(prog.has_value()) << prog.error().describe();
  const auto& fp = k.progs.at(prog->fd());
  EXPECT_EQ(fp.insns[0].imm, m->fd());
  EXPECT_EQ(fp.insns[2].imm, *k.kfunc_btf_id("bpf_dynptr_size"));
  EXPECT_EQ(fp.spec.type, BPF_PROG_TYPE_XDP);

  auto missing = load_program(k, p, {.type = BPF_PROG_TYPE_XDP}, {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().err, ENOENT);
}

}  // namespace
}  // namespace nfbpf::codegen::kernel
