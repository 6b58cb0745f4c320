#include "codegen/runtime/dispatcher.h"

// glibc's netinet/in.h must precede linux/netfilter.h (which pulls in linux/in.h).
#include <netinet/in.h>
#include <linux/netfilter.h>

#include <gtest/gtest.h>

#include "codegen/emit/disasm.h"
#include "codegen/kernel/fake_kernel.h"
#include "codegen/kernel/loader.h"

namespace nfbpf::codegen::runtime {
namespace {

using flavor::AttachPoint;
using flavor::Flavor;

TEST(Dispatcher, ProgramIsATailCallWithDefault) {
  emit::Program p = make_dispatcher_program("d", 1);
  EXPECT_EQ(emit::disassemble(p),
            "   0: r2 = map_fd(prog_array) ll\n"
            "   2: r3 = 0\n"
            "   3: call bpf_tail_call\n"
            "   4: r0 = 1\n"
            "   5: exit\n");
}

TEST(Dispatcher, InstallSwapsSlotZeroAndClearEmptiesIt) {
  kernel::FakeKernel k;
  auto d = Dispatcher::create(k, Flavor::kNetfilter, NF_ACCEPT);
  ASSERT_TRUE(d.has_value()) << d.error().describe();
  EXPECT_EQ(k.progs.at(d->program().fd()).spec.type, BPF_PROG_TYPE_NETFILTER);
  EXPECT_EQ(k.progs.at(d->program().fd()).spec.expected_attach_type, BPF_NETFILTER);

  emit::Program chain("c");
  chain.ret(NF_DROP);
  auto c1 = kernel::load_program(k, chain, {.type = BPF_PROG_TYPE_NETFILTER});
  auto c2 = kernel::load_program(k, chain, {.type = BPF_PROG_TYPE_NETFILTER});
  ASSERT_TRUE(c1 && c2);

  uint32_t key = 0, fd = 0;
  ASSERT_TRUE(d->install(*c1).has_value());
  ASSERT_TRUE(d->prog_array().lookup(&key, &fd).has_value());
  EXPECT_EQ(static_cast<int>(fd), c1->fd());
  ASSERT_TRUE(d->install(*c2).has_value());
  ASSERT_TRUE(d->prog_array().lookup(&key, &fd).has_value());
  EXPECT_EQ(static_cast<int>(fd), c2->fd());
  ASSERT_TRUE(d->clear().has_value());
  EXPECT_FALSE(d->prog_array().lookup(&key, &fd).has_value());
  EXPECT_TRUE(d->clear().has_value());  // idempotent
}

TEST(Dispatcher, AttachUsesNetfilterHookAndRefusesSecondOnSamePriority) {
  kernel::FakeKernel k;
  auto d1 = Dispatcher::create(k, Flavor::kNetfilter, NF_ACCEPT);
  auto d2 = Dispatcher::create(k, Flavor::kNetfilter, NF_ACCEPT);
  ASSERT_TRUE(d1 && d2);
  auto at = AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, -100);
  ASSERT_TRUE(d1->attach(at).has_value());
  EXPECT_TRUE(d1->attached());
  ASSERT_EQ(k.links.size(), 1u);
  const auto& link = k.links.begin()->second;
  EXPECT_EQ(link.prog_fd, d1->program().fd());
  EXPECT_EQ(link.spec.attach_type, BPF_NETFILTER);
  ASSERT_TRUE(link.spec.netfilter.has_value());
  EXPECT_EQ(link.spec.netfilter->hooknum, static_cast<uint32_t>(NF_INET_LOCAL_IN));
  EXPECT_EQ(link.spec.netfilter->priority, -100);
  EXPECT_EQ(d1->attach(at).error().err, EBUSY);  // already attached
  EXPECT_EQ(d2->attach(at).error().err, EBUSY);  // same hook and priority
  EXPECT_EQ(d2->attach(AttachPoint::xdp(1)).error().err, EINVAL);  // wrong flavor
}

}  // namespace
}  // namespace nfbpf::codegen::runtime
