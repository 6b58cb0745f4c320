#include "codegen/flavor/attach.h"

// glibc's netinet/in.h must precede linux/netfilter.h (which pulls in linux/in.h).
#include <netinet/in.h>
#include <linux/netfilter.h>

#include <climits>

#include <gtest/gtest.h>

namespace nfbpf::codegen::flavor {
namespace {

TEST(FlavorTable, TableIsIndexedByFlavor) {
  for (size_t i = 0; i < static_cast<size_t>(Flavor::kCount); ++i) {
    auto f = static_cast<Flavor>(i);
    EXPECT_EQ(flavor_ops(f).flavor, f) << flavor_name(f);
    EXPECT_NE(flavor_ops(f).accept, flavor_ops(f).drop);
    EXPECT_NE(flavor_ops(f).emit_packet_init, nullptr);
  }
  EXPECT_EQ(flavor_ops(Flavor::kNetfilter).accept, NF_ACCEPT);
  EXPECT_EQ(flavor_ops(Flavor::kNetfilter).drop, NF_DROP);
  EXPECT_EQ(flavor_ops(Flavor::kXdp).l3_offset, 14u);
  EXPECT_EQ(flavor_ops(Flavor::kCgroupSkbEgress).l3_offset, 0u);
}

TEST(FlavorTable, NetfilterAttachValidatesLikeTheKernel) {
  auto ok = link_spec(AttachPoint::netfilter_hook(NFPROTO_IPV6, NF_INET_POST_ROUTING, INT_MIN + 1));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->target, 0);
  EXPECT_EQ(ok->netfilter->pf, static_cast<uint32_t>(NFPROTO_IPV6));
  EXPECT_EQ(link_spec(AttachPoint::netfilter_hook(NFPROTO_IPV4, 0, INT_MIN)).error().err, ERANGE);
  EXPECT_EQ(link_spec(AttachPoint::netfilter_hook(NFPROTO_IPV4, 0, INT_MAX)).error().err, ERANGE);
  EXPECT_EQ(link_spec(AttachPoint::netfilter_hook(NFPROTO_ARP, 0, 0)).error().err, EAFNOSUPPORT);
  EXPECT_EQ(link_spec(AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_NUMHOOKS, 0)).error().err, EINVAL);
  EXPECT_EQ(link_spec(AttachPoint::netfilter_hook(NFPROTO_IPV4, 0, -400, BPF_F_NETFILTER_IP_DEFRAG)).error().err, ERANGE);
  EXPECT_TRUE(link_spec(AttachPoint::netfilter_hook(NFPROTO_IPV4, 0, -399, BPF_F_NETFILTER_IP_DEFRAG)).has_value());
}

TEST(FlavorTable, InterfaceAndCgroupAttachNeedTargets) {
  EXPECT_EQ(link_spec(AttachPoint::xdp(0)).error().err, EINVAL);
  auto x = link_spec(AttachPoint::xdp(3, 2));
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->target, 3);
  EXPECT_EQ(x->flags, 2u);
  auto t = link_spec(AttachPoint::tcx(Flavor::kTcxEgress, 4));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->attach_type, BPF_TCX_EGRESS);
  EXPECT_EQ(link_spec(AttachPoint::cgroup(Flavor::kCgroupSkbIngress, -1)).error().err, EBADF);
}

}  // namespace
}  // namespace nfbpf::codegen::flavor
