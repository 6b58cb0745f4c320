// Jump depth as the kernel counts it (nft_chain_validate(): a chain reached at level
// NFT_JUMP_STACK_SIZE = 16 from a base chain is EMLINK). Checked against this machine's kernel
// with `unshare -n nft`: base -> c0 -> ... -> c14 succeeds, c14 -> c15 is refused with EMLINK,
// and c15 -> c16 is accepted afterwards (c15 is then unreachable).
#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <string>

#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/test_client.h"

namespace nfbpf::nftables {
namespace {

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

int run(nfnl::NetlinkProtocol& p, const testing::Bytes& req) {
  nfnl::Peer peer;
  peer.portid = 5;
  peer.pid = 5;
  peer.cap_net_admin = true;
  NoMulticast mc;
  int err = 0;
  for (const auto& r : testing::parse_replies(p.handle(peer, req, mc)))
    if (r.type == NLMSG_ERROR && r.error) err = -r.error;
  return err;
}

TEST(ValidateDepth, SixteenthLevelFromABaseChainIsEmlink) {
  auto p = make_nftables_protocol();
  testing::Batch setup;
  setup.table(NFPROTO_IPV4, "deep");
  for (int i = 0; i < 20; i++) setup.chain(NFPROTO_IPV4, "deep", "c" + std::to_string(i));
  setup.base_chain(NFPROTO_IPV4, "deep", "base", NF_INET_LOCAL_IN, 0);
  setup.rule_jump(NFPROTO_IPV4, "deep", "base", "c0");
  ASSERT_EQ(run(*p, setup.done()), 0);
  auto link = [&](int i) {
    return run(*p, testing::Batch().rule_jump(NFPROTO_IPV4, "deep", "c" + std::to_string(i),
                                              "c" + std::to_string(i + 1)).done());
  };
  for (int i = 0; i < 14; i++) ASSERT_EQ(link(i), 0) << "c" << i;
  EXPECT_EQ(link(14), EMLINK);  // c15 would sit at level 16
  EXPECT_EQ(link(15), 0);       // c15 is not reachable
}

}  // namespace
}  // namespace nfbpf::nftables
