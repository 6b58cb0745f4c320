// Behaviour of the protocol beyond byte replay: the commit seam, generation ids, echo,
// notifications, abort, and the cost of loading large rulesets.
#include "nfnl-server/nftables/protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "nfnl-server/nftables/test_client.h"

namespace nfbpf::nftables {
namespace {

using testing::Batch;
using testing::get_request;
using testing::parse_replies;

constexpr uint16_t kNft = NFNL_SUBSYS_NFTABLES << 8;

struct Recorder : nfnl::Multicast {
  struct Pub {
    uint32_t group;
    nfnl::Message msg;
    uint32_t exclude;
  };
  std::vector<Pub> pubs;
  void publish(uint32_t g, nfnl::Message m, uint32_t ex) override {
    pubs.push_back({g, std::move(m), ex});
  }
};

nfnl::Peer peer(uint32_t portid = 77) {
  nfnl::Peer p;
  p.portid = portid;
  p.pid = int(portid);
  p.comm = "test";
  p.cap_net_admin = true;
  p.ext_ack = true;
  return p;
}

uint16_t res_id(const nfnl::Message& m) {
  uint16_t r;
  std::memcpy(&r, m.data() + NLMSG_HDRLEN + 2, 2);
  return ntohs(r);
}

// Number of NEWRULE messages in a full rule dump.
size_t count_rules(nfnl::NetlinkProtocol& p) {
  Recorder mc;
  auto replies =
      parse_replies(p.handle(peer(), get_request(NFT_MSG_GETRULE, NFPROTO_UNSPEC, NLM_F_DUMP, 9), mc));
  size_t n = 0;
  for (auto& r : replies) n += r.type == (kNft | NFT_MSG_NEWRULE);
  return n;
}

uint32_t genid(nfnl::NetlinkProtocol& p) {
  Recorder mc;
  auto r = p.handle(peer(), get_request(NFT_MSG_GETGEN, NFPROTO_UNSPEC, 0, 3), mc);
  EXPECT_EQ(r.size(), 1u);
  return res_id(r.at(0));
}

class RefusingHook : public CommitHook {
 public:
  int prepares = 0, commits = 0, aborts = 0;
  size_t rules_seen = 0;
  bool refuse = true;
  Result<void> prepare(const store::Ruleset& next) override {
    prepares++;
    rules_seen = 0;
    for (const auto& t : next.tables)
      for (const auto& c : t->chains)
        for (const auto& r : c->rules) rules_seen += r.vis.next;
    if (refuse) return fail(E2BIG, "chain input: program too large for the verifier");
    return {};
  }
  void commit() override { commits++; }
  void abort() override { aborts++; }
};

TEST(Protocol, CommitHookSeesTheNextRulesetAndCanRefuseTheBatch) {
  auto hook = std::make_unique<RefusingHook>();
  RefusingHook* h = hook.get();
  auto p = make_nftables_protocol(std::move(hook));
  Recorder mc;
  Batch b;
  b.table(NFPROTO_IPV4, "t").base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0);
  for (uint32_t i = 0; i < 3; i++) b.rule_saddr_drop(NFPROTO_IPV4, "t", "in", htonl(0x0a000001 + i));
  auto replies = parse_replies(p->handle(peer(), b.done(), mc));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, NLMSG_ERROR);
  EXPECT_EQ(replies[0].error, -E2BIG);
  EXPECT_EQ(replies[0].seq, 2u) << "reported against the first message after BATCH_BEGIN";
  std::string body(replies[0].bytes.begin(), replies[0].bytes.end());
  EXPECT_NE(body.find("program too large"), std::string::npos) << "extack carries the hook's message";
  EXPECT_EQ(h->prepares, 1);
  EXPECT_EQ(h->rules_seen, 3u);
  EXPECT_EQ(h->aborts, 1);
  EXPECT_EQ(h->commits, 0);
  EXPECT_EQ(count_rules(*p), 0u) << "refused batch left nothing behind";
  EXPECT_EQ(genid(*p), 1u) << "genid moves only on a successful commit";
  EXPECT_TRUE(mc.pubs.empty()) << "no notifications for an aborted batch";

  h->refuse = false;
  Batch b2;
  b2.table(NFPROTO_IPV4, "t").base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0);
  b2.rule_saddr_drop(NFPROTO_IPV4, "t", "in", htonl(0x0a000001));
  EXPECT_TRUE(p->handle(peer(), b2.done(), mc).empty());
  EXPECT_EQ(h->commits, 1);
  EXPECT_EQ(count_rules(*p), 1u);
  EXPECT_EQ(genid(*p), 2u);
}

TEST(Protocol, EchoReturnsObjectsWithTheNewGenidThenNewgen) {
  auto p = make_nftables_protocol();
  Recorder mc;
  Batch b;
  b.table(NFPROTO_IPV4, "t", NLM_F_ECHO);
  auto replies = p->handle(peer(), b.done(), mc);
  ASSERT_EQ(replies.size(), 2u);
  auto r = parse_replies(replies);
  EXPECT_EQ(r[0].type, kNft | NFT_MSG_NEWTABLE);
  EXPECT_EQ(res_id(replies[0]), 2u);
  EXPECT_EQ(r[1].type, kNft | NFT_MSG_NEWGEN);
  EXPECT_EQ(r[1].seq, 2u);
  // Listeners get the same messages; the echoing sender is excluded from the multicast.
  ASSERT_EQ(mc.pubs.size(), 2u);
  EXPECT_EQ(mc.pubs[0].group, unsigned(NFNLGRP_NFTABLES));
  EXPECT_EQ(mc.pubs[0].exclude, 77u);
  EXPECT_EQ(mc.pubs[0].msg, replies[0]);
}

TEST(Protocol, NotificationsFollowOpOrderAndEndWithNewgen) {
  auto p = make_nftables_protocol();
  Recorder mc;
  Batch b;
  b.table(NFPROTO_INET, "f").chain(NFPROTO_INET, "f", "c").rule_saddr_drop(NFPROTO_INET, "f", "c", 1);
  ASSERT_TRUE(p->handle(peer(), b.done(), mc).empty());
  std::vector<uint16_t> types;
  for (auto& pub : mc.pubs) {
    uint16_t t;
    std::memcpy(&t, pub.msg.data() + 4, 2);
    types.push_back(t & 0xff);
    EXPECT_EQ(pub.exclude, 0u);
  }
  EXPECT_EQ(types, (std::vector<uint16_t>{NFT_MSG_NEWTABLE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE,
                                          NFT_MSG_NEWGEN}));
}

TEST(Protocol, AbortRestoresReferenceCounts) {
  auto p = make_nftables_protocol();
  Recorder mc;
  Batch b;
  b.table(NFPROTO_IPV4, "t").chain(NFPROTO_IPV4, "t", "a").chain(NFPROTO_IPV4, "t", "b");
  ASSERT_TRUE(p->handle(peer(), b.done(), mc).empty());
  // A jump to b, then a failing message: the whole batch aborts and b's use must return to 0,
  // which a later delete of b proves (EBUSY otherwise).
  Batch b2(10);
  b2.rule_jump(NFPROTO_IPV4, "t", "a", "b").rule_jump(NFPROTO_IPV4, "t", "a", "nosuch");
  auto r = parse_replies(p->handle(peer(), b2.done(), mc));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error, -ENOENT);
  EXPECT_EQ(count_rules(*p), 0u);
  // Delete chain b: build a NEWCHAIN for it and turn it into the DELCHAIN nft would send.
  Batch b4(30);
  b4.chain(NFPROTO_IPV4, "t", "b");
  auto del = b4.done();
  uint16_t t = kNft | NFT_MSG_DELCHAIN;
  std::memcpy(del.data() + 20 + 4, &t, 2);  // second message: after the 20-byte BATCH_BEGIN
  EXPECT_TRUE(p->handle(peer(), del, mc).empty()) << "chain b is no longer referenced";
}

TEST(Protocol, FailedNewruleStillConsumesAHandle) {
  auto p = make_nftables_protocol();
  Recorder mc;
  Batch b;
  b.table(NFPROTO_IPV4, "t").chain(NFPROTO_IPV4, "t", "c");
  ASSERT_TRUE(p->handle(peer(), b.done(), mc).empty());  // chain handle 1
  Batch bad(10);
  bad.rule_jump(NFPROTO_IPV4, "t", "c", "nosuch");  // takes handle 2, fails
  ASSERT_EQ(parse_replies(p->handle(peer(), bad.done(), mc)).at(0).error, -ENOENT);
  Batch good(20);
  good.rule_saddr_drop(NFPROTO_IPV4, "t", "c", 1);
  ASSERT_TRUE(p->handle(peer(), good.done(), mc).empty());
  auto dump = p->handle(peer(), get_request(NFT_MSG_GETRULE, NFPROTO_IPV4, NLM_F_DUMP, 5), mc);
  ASSERT_EQ(dump.size(), 2u);
  // NFTA_RULE_HANDLE follows TABLE "t" (8 bytes) and CHAIN "c" (8 bytes).
  uint64_t handle;
  std::memcpy(&handle, dump[0].data() + NLMSG_HDRLEN + 4 + 8 + 8 + 4, 8);
  EXPECT_EQ(be64toh(handle), 3u);
}

// Load time for large batches is measured in bench/commit_bench.cpp (docs/performance.md),
// not asserted here: timing on a shared machine makes a flaky test.

}  // namespace
}  // namespace nfbpf::nftables
