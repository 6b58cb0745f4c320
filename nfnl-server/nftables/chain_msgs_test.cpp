// Chain rename (NEWCHAIN with NFTA_CHAIN_HANDLE and a new NFTA_CHAIN_NAME), as this machine's
// kernel does it (checked with `unshare -n nft -f`): two renames to one name in a batch are
// EEXIST; the new name takes effect at commit, so within the batch the chain keeps its old name
// (a rule added to the new name is ENOENT); jumps to the chain list its new name. The byte-level
// replies are in testdata/rename.cap (nftables_replay_test).
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/test_client.h"

namespace nfbpf::nftables {
namespace {

using testing::Batch;
using testing::first_error;

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

nftnl_chain* rename_msg(uint64_t handle, const std::string& to) {
  nftnl_chain* c = nftnl_chain_alloc();
  nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "t");
  nftnl_chain_set_u64(c, NFTNL_CHAIN_HANDLE, handle);
  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, to.c_str());
  return c;
}

// Chain names in dump order, and the chain each `jump` of the dump names.
struct Listing {
  std::vector<std::string> chains;
  std::vector<std::string> jumps;
};

Listing list(nfnl::NetlinkProtocol& p) {
  Listing out;
  NoMulticast mc;
  for (const auto& m : p.handle(testing::admin_peer(),
                                testing::get_request(NFT_MSG_GETCHAIN, NFPROTO_IPV4, NLM_F_DUMP, 7), mc)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN)) continue;
    nftnl_chain* c = nftnl_chain_alloc();
    EXPECT_EQ(nftnl_chain_nlmsg_parse(nlh, c), 0);
    out.chains.emplace_back(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
    nftnl_chain_free(c);
  }
  for (const auto& m : p.handle(testing::admin_peer(),
                                testing::get_request(NFT_MSG_GETRULE, NFPROTO_IPV4, NLM_F_DUMP, 8), mc)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE)) continue;
    nftnl_rule* r = nftnl_rule_alloc();
    EXPECT_EQ(nftnl_rule_nlmsg_parse(nlh, r), 0);
    nftnl_expr_iter* it = nftnl_expr_iter_create(r);
    for (nftnl_expr* e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it))
      if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
        out.jumps.emplace_back(nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN));
    nftnl_expr_iter_destroy(it);
    nftnl_rule_free(r);
  }
  return out;
}

// Table t with chains a (handle 1), b (handle 2) and a base chain jumping to a (handle 3, 4).
std::unique_ptr<nfnl::NetlinkProtocol> setup() {
  auto p = make_nftables_protocol();
  EXPECT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .chain(NFPROTO_IPV4, "t", "a")
                                .chain(NFPROTO_IPV4, "t", "b")
                                .base_chain(NFPROTO_IPV4, "t", "base", NF_INET_LOCAL_IN, 0)
                                .rule_jump(NFPROTO_IPV4, "t", "base", "a")
                                .done()),
            0);
  return p;
}

TEST(ChainRename, RenamesTheChainAndTheJumpsToIt) {
  auto p = setup();
  ASSERT_EQ(first_error(*p, Batch().chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, rename_msg(1, "a2")).done()), 0);
  Listing l = list(*p);
  EXPECT_EQ(l.chains, (std::vector<std::string>{"a2", "b", "base"}));
  EXPECT_EQ(l.jumps, (std::vector<std::string>{"a2"}));
  // The old name is free again; the new one is taken.
  EXPECT_EQ(first_error(*p, Batch().chain(NFPROTO_IPV4, "t", "a").done()), 0);
  EXPECT_EQ(first_error(*p, Batch().chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, rename_msg(2, "a2")).done()),
            EEXIST);
}

TEST(ChainRename, TwoRenamesToOneNameInABatchAreEexist) {
  auto p = setup();
  EXPECT_EQ(first_error(*p, Batch()
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, rename_msg(1, "x"))
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, rename_msg(2, "x"))
                                .done()),
            EEXIST);
  EXPECT_EQ(list(*p).chains, (std::vector<std::string>{"a", "b", "base"}));
}

TEST(ChainRename, TheNewNameTakesEffectAtCommit) {
  auto p = setup();
  // Within the batch the chain is still `a`: a rule for `x` finds no chain.
  EXPECT_EQ(first_error(*p, Batch()
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, rename_msg(1, "x"))
                                .rule_saddr_drop(NFPROTO_IPV4, "t", "a", 0x01020304)
                                .rule_saddr_drop(NFPROTO_IPV4, "t", "x", 0x01020304)
                                .done()),
            ENOENT);
  EXPECT_EQ(first_error(*p, Batch()
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, rename_msg(1, "x"))
                                .rule_saddr_drop(NFPROTO_IPV4, "t", "a", 0x01020304)
                                .done()),
            0);
  EXPECT_EQ(list(*p).chains, (std::vector<std::string>{"x", "b", "base"}));
}

TEST(ChainRename, UnknownHandleIsEnoent) {
  auto p = setup();
  EXPECT_EQ(first_error(*p, Batch().chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, rename_msg(99, "x")).done()),
            ENOENT);
}

// Devices added to an existing netdev base chain (testdata/netdev_devices.cap): devices the
// chain has are ignored, new ones go in front, and an aborted batch takes them out again.
nftnl_chain* ingress(const char* dev) {
  nftnl_chain* c = nftnl_chain_alloc();
  nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "n");
  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "c");
  nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_NETDEV_INGRESS);
  nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
  nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
  nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, dev);
  return c;
}

std::vector<std::string> devices(nfnl::NetlinkProtocol& p) {
  NoMulticast mc;
  std::vector<std::string> out;
  for (const auto& m : p.handle(testing::admin_peer(),
                                testing::get_request(NFT_MSG_GETCHAIN, NFPROTO_NETDEV, NLM_F_DUMP, 7), mc)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN)) continue;
    nftnl_chain* c = nftnl_chain_alloc();
    EXPECT_EQ(nftnl_chain_nlmsg_parse(nlh, c), 0);
    if (const char* const* devs = nftnl_chain_get_array(c, NFTNL_CHAIN_DEVICES))
      for (; *devs; devs++) out.emplace_back(*devs);
    nftnl_chain_free(c);
  }
  return out;
}

TEST(ChainDevices, NewDevicesJoinAnExistingNetdevChainInFront) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_NETDEV, "n")
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_NETDEV, ingress("d0"), NLM_F_CREATE)
                                .done()),
            0);
  EXPECT_EQ(devices(*p), (std::vector<std::string>{"d0"}));
  ASSERT_EQ(first_error(*p, Batch().chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_NETDEV, ingress("d1"), NLM_F_CREATE).done()), 0);
  ASSERT_EQ(first_error(*p, Batch().chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_NETDEV, ingress("d0"), NLM_F_CREATE).done()), 0);
  EXPECT_EQ(devices(*p), (std::vector<std::string>{"d1", "d0"}));
  // Added, then the batch fails: d2 is gone again.
  EXPECT_EQ(first_error(*p, Batch()
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_NETDEV, ingress("d2"), NLM_F_CREATE)
                                .rule_jump(NFPROTO_NETDEV, "n", "nosuch", "x")
                                .done()),
            ENOENT);
  EXPECT_EQ(devices(*p), (std::vector<std::string>{"d1", "d0"}));
}

// Base chain counters (NFTA_CHAIN_COUNTERS; iptables-nft sends them, testdata/chain_counters.cap
// has the real sessions). The error paths, which no client reaches, follow nf_tables_addchain,
// nf_tables_updchain and nft_stats_alloc.
nftnl_chain* with_counters(const char* name, bool base, std::optional<uint64_t> packets,
                           std::optional<uint64_t> bytes) {
  nftnl_chain* c = nftnl_chain_alloc();
  nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "t");
  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
  if (base) {
    nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_OUT);
    nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
  }
  if (packets) nftnl_chain_set_u64(c, NFTNL_CHAIN_PACKETS, *packets);
  if (bytes) nftnl_chain_set_u64(c, NFTNL_CHAIN_BYTES, *bytes);
  return c;
}

// name -> (packets, bytes) of every chain that lists counters.
std::map<std::string, std::pair<uint64_t, uint64_t>> chain_counters(nfnl::NetlinkProtocol& p) {
  NoMulticast mc;
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  for (const auto& m : p.handle(testing::admin_peer(),
                                testing::get_request(NFT_MSG_GETCHAIN, NFPROTO_IPV4, NLM_F_DUMP, 7), mc)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN)) continue;
    nftnl_chain* c = nftnl_chain_alloc();
    EXPECT_EQ(nftnl_chain_nlmsg_parse(nlh, c), 0);
    if (nftnl_chain_is_set(c, NFTNL_CHAIN_PACKETS))
      out[nftnl_chain_get_str(c, NFTNL_CHAIN_NAME)] = {nftnl_chain_get_u64(c, NFTNL_CHAIN_PACKETS),
                                                       nftnl_chain_get_u64(c, NFTNL_CHAIN_BYTES)};
    nftnl_chain_free(c);
  }
  return out;
}

TEST(ChainCounters, BaseChainsKeepAndListThemRegularChainsIgnoreThem) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, with_counters("b", true, 12, 345), NLM_F_CREATE)
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, with_counters("r", false, 1, 2), NLM_F_CREATE)
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, with_counters("plain", true, {}, {}), NLM_F_CREATE)
                                .done()),
            0);
  using C = std::map<std::string, std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(chain_counters(*p), (C{{"b", {12, 345}}}));
  // An update replaces them at commit; a failed batch leaves the old ones.
  EXPECT_EQ(first_error(*p, Batch()
                                .chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, with_counters("b", true, 0, 0))
                                .rule_jump(NFPROTO_IPV4, "t", "nosuch", "x")
                                .done()),
            ENOENT);
  EXPECT_EQ(chain_counters(*p), (C{{"b", {12, 345}}}));
  ASSERT_EQ(first_error(*p, Batch().chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, with_counters("plain", true, 7, 8)).done()), 0);
  EXPECT_EQ(chain_counters(*p), (C{{"b", {12, 345}}, {"plain", {7, 8}}}));
}

TEST(ChainCounters, UpdateOfARegularChainIsEopnotsuppAndBothValuesAreNeeded) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch().table(NFPROTO_IPV4, "t").chain(NFPROTO_IPV4, "t", "r").done()), 0);
  EXPECT_EQ(first_error(*p, Batch().chain_msg(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, with_counters("r", false, 1, 2)).done()),
            EOPNOTSUPP);
  // libnftnl sends both or neither; a raw client may send one.
  for (uint16_t only : {NFTA_COUNTER_PACKETS, NFTA_COUNTER_BYTES}) {
    auto fill = [only](nlmsghdr* nlh) {
      nftnl_chain* c = with_counters("b", true, {}, {});
      nftnl_chain_nlmsg_build_payload(nlh, c);
      nftnl_chain_free(c);
      nlattr* nest = mnl_attr_nest_start(nlh, NFTA_CHAIN_COUNTERS);
      mnl_attr_put_u64(nlh, only, htobe64(1));
      mnl_attr_nest_end(nlh, nest);
    };
    EXPECT_EQ(first_error(*p, Batch().raw(NFT_MSG_NEWCHAIN, NFPROTO_IPV4, NLM_F_CREATE, fill).done()), EINVAL)
        << "only attribute " << only;
  }
  EXPECT_TRUE(chain_counters(*p).empty());
}

}  // namespace
}  // namespace nfbpf::nftables
