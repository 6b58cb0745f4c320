#include "nfnl-server/offload/hook_order.h"

#include <linux/netfilter.h>

#include <gtest/gtest.h>

namespace nfbpf::offload {
namespace {

BaseChainHook chain(std::string where, uint8_t family, uint32_t hook, int32_t prio, uint64_t created, bool kernel,
                    std::vector<std::string> devices = {}) {
  return BaseChainHook{.where = std::move(where), .family = family, .hooknum = hook, .priority = prio,
                       .devices = std::move(devices), .created = created, .kernel = kernel};
}

// Verified with `unshare -n nft -f`: `table ip k` (reject, kernel) then `table ip b` (BPF-able)
// at input priority 0 in one file: b's counter counts, k's does not.
TEST(HookOrder, ABpfAbleChainCreatedAfterAKernelChainAtItsPriorityJoinsTheKernel) {
  const auto moved = kernel_for_hook_order({chain("ip k input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 0, 1, true),
                                            chain("ip b input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 0, 2, false)});
  ASSERT_EQ(moved.size(), 1u);
  ASSERT_TRUE(moved.contains(1));
  EXPECT_NE(moved.at(1).find("created after kernel chain ip k input at input priority 0"), std::string::npos)
      << moved.at(1);
}

// A kernel chain the batch deletes still holds its points while BPF attaches (EBUSY): a BPF-able
// chain there goes to the kernel even when created after it, as its own re-creation is; at other
// priorities, and on TCX (device points), it holds nothing.
TEST(HookOrder, AKernelChainTheBatchDeletesHoldsItsNetfilterPoints) {
  BaseChainHook leaving = chain("ip s input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 0, 1, true);
  leaving.leaving = true;
  BaseChainHook leaving_ingress = chain("netdev n in", NFPROTO_NETDEV, NF_NETDEV_INGRESS, 0, 2, true, {"eth0"});
  leaving_ingress.leaving = true;
  const auto moved = kernel_for_hook_order({leaving, leaving_ingress,
                                            chain("inet s input", NFPROTO_INET, NF_INET_LOCAL_IN, 0, 3, false),
                                            chain("ip t input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 5, 4, false),
                                            chain("netdev m in", NFPROTO_NETDEV, NF_NETDEV_INGRESS, -5, 5, false, {"eth0"})});
  ASSERT_EQ(moved.size(), 1u);
  ASSERT_TRUE(moved.contains(2));
  EXPECT_NE(moved.at(2).find("kernel chain ip s input this batch deletes holds input priority 0"), std::string::npos)
      << moved.at(2);
}

TEST(HookOrder, ABpfChainCreatedFirstStaysInBpf) {
  // The kernel chain registers after the link and runs first, as it does without nfbpf.
  EXPECT_TRUE(kernel_for_hook_order({chain("ip b input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 0, 1, false),
                                     chain("ip k input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 0, 2, true)})
                  .empty());
}

TEST(HookOrder, OtherPrioritiesHooksAndFamiliesDoNotTie) {
  EXPECT_TRUE(kernel_for_hook_order({chain("ip k input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 0, 1, true),
                                     chain("ip b input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 10, 2, false),
                                     chain("ip b output", NFPROTO_IPV4, NF_INET_LOCAL_OUT, 0, 3, false),
                                     chain("ip6 b input", NFPROTO_IPV6, NF_INET_LOCAL_IN, 0, 4, false),
                                     chain("arp a input", NFPROTO_ARP, 0, 0, 5, false)})
                  .empty());
}

TEST(HookOrder, InetTiesWithIpAndIp6) {
  // An inet chain is at the IPv4 and the IPv6 point: after an ip kernel chain it joins the
  // kernel, and then an ip6 BPF-able chain created after it joins too (the rule repeats).
  const auto moved = kernel_for_hook_order({chain("ip k input", NFPROTO_IPV4, NF_INET_LOCAL_IN, 0, 1, true),
                                            chain("inet b input", NFPROTO_INET, NF_INET_LOCAL_IN, 0, 2, false),
                                            chain("ip6 c input", NFPROTO_IPV6, NF_INET_LOCAL_IN, 0, 3, false),
                                            chain("ip6 d input", NFPROTO_IPV6, NF_INET_LOCAL_IN, 0, 0, false)});
  EXPECT_EQ(moved.size(), 2u);
  EXPECT_TRUE(moved.contains(1));
  ASSERT_TRUE(moved.contains(2));
  EXPECT_NE(moved.at(2).find("kernel chain inet b input"), std::string::npos) << moved.at(2);
  EXPECT_FALSE(moved.contains(3));  // created before every kernel chain there
}

TEST(HookOrder, NetdevIngressBpfRunsFirstSoAKernelChainThatMustRunBeforeItWins) {
  // TCX ingress runs before every netfilter ingress hook.
  const auto moved = kernel_for_hook_order({
      chain("netdev k ing", NFPROTO_NETDEV, NF_NETDEV_INGRESS, -10, 1, true, {"veth0"}),
      chain("netdev b ing", NFPROTO_NETDEV, NF_NETDEV_INGRESS, 0, 2, false, {"veth0"}),        // k first: moves
      chain("netdev c ing", NFPROTO_NETDEV, NF_NETDEV_INGRESS, -20, 3, false, {"veth0"}),      // before k: stays
      chain("netdev d ing", NFPROTO_NETDEV, NF_NETDEV_INGRESS, 0, 4, false, {"veth1"}),        // other device
      chain("inet e ing", NFPROTO_INET, NF_INET_INGRESS, -10, 0, false, {"veth0"}),  // tie, k later: k first: moves
  });
  EXPECT_EQ(moved.size(), 2u);
  EXPECT_TRUE(moved.contains(1));
  EXPECT_TRUE(moved.contains(4));
  EXPECT_NE(moved.at(1).find("ingress of veth0"), std::string::npos) << moved.at(1);
}

TEST(HookOrder, NetdevEgressBpfRunsLastSoAChainThatMustRunBeforeAKernelChainMoves) {
  // TCX egress runs after every netfilter egress hook.
  const auto moved = kernel_for_hook_order({
      chain("netdev k eg", NFPROTO_NETDEV, NF_NETDEV_EGRESS, 0, 1, true, {"veth0"}),
      chain("netdev b eg", NFPROTO_NETDEV, NF_NETDEV_EGRESS, -10, 2, false, {"veth0"}),  // before k: moves
      chain("netdev c eg", NFPROTO_NETDEV, NF_NETDEV_EGRESS, 10, 3, false, {"veth0"}),   // after k: stays
  });
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_TRUE(moved.contains(1));
}

}  // namespace
}  // namespace nfbpf::offload
