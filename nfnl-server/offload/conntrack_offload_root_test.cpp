// OffloadHook and the conntrack anchor together: a committed `ct state invalid drop` at input
// must not drop new UDP flows (it did while nothing made conntrack run in the daemon's namespace:
// every packet read as invalid), the kernel anchor table exists exactly while a ct rule is
// committed, and a refused batch leaves no anchor behind.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <optional>

#include "codegen/kernel/linux_kernel.h"
#include "codegen/kernel/testing/netns_pair.h"
#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/offload/conntrack_anchor.h"
#include "nfnl-server/offload/offload_hook.h"
#include "nfnl-server/offload/testing/nft_batch.h"

namespace nfbpf::offload {
namespace {

using codegen::testing::NetnsPair;

constexpr uint16_t kPort = 5556;
constexpr int kPackets = 5;

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

// A batch as nft sends it, built with libnftnl.
class Batch {
 public:
  explicit Batch(uint32_t seq) : seq_(seq), buf_(65536) {
    b_ = mnl_nlmsg_batch_start(buf_.data(), buf_.size());
    nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(b_)), seq_++);
    mnl_nlmsg_batch_next(b_);
  }
  ~Batch() { mnl_nlmsg_batch_stop(b_); }

  Batch& table(const char* name) {
    nftnl_table* t = nftnl_table_alloc();
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
    nftnl_table_nlmsg_build_payload(hdr(NFT_MSG_NEWTABLE, NLM_F_CREATE), t);
    nftnl_table_free(t);
    return next();
  }
  Batch& del_table(const char* name) {
    nftnl_table* t = nftnl_table_alloc();
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
    nftnl_table_nlmsg_build_payload(hdr(NFT_MSG_DELTABLE, 0), t);
    nftnl_table_free(t);
    return next();
  }
  Batch& input_chain(const char* table, const char* name) {
    nftnl_chain* c = nftnl_chain_alloc();
    nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_IN);
    nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
    nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    nftnl_chain_nlmsg_build_payload(hdr(NFT_MSG_NEWCHAIN, NLM_F_CREATE), c);
    nftnl_chain_free(c);
    return next();
  }
  // ct <key> == value (host-order u32) <verdict>
  Batch& ct_rule(const char* table, const char* chain, uint32_t key, uint32_t value, int verdict) {
    nftnl_rule* r = nftnl_rule_alloc();
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
    nftnl_expr* e = nftnl_expr_alloc("ct");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
    nftnl_rule_add_expr(r, e);
    e = nftnl_expr_alloc("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &value, sizeof value);
    nftnl_rule_add_expr(r, e);
    e = nftnl_expr_alloc("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(verdict));
    nftnl_rule_add_expr(r, e);
    nftnl_rule_nlmsg_build_payload(hdr(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND), r);
    nftnl_rule_free(r);
    return next();
  }
  std::vector<uint8_t> done() {
    nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(b_)), seq_++);
    mnl_nlmsg_batch_next(b_);
    const auto* p = static_cast<const uint8_t*>(mnl_nlmsg_batch_head(b_));
    return {p, p + mnl_nlmsg_batch_size(b_)};
  }

 private:
  nlmsghdr* hdr(uint16_t type, uint16_t flags) {
    return nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(b_)), type, NFPROTO_IPV4, flags, seq_++);
  }
  Batch& next() {
    mnl_nlmsg_batch_next(b_);
    return *this;
  }
  uint32_t seq_;
  std::vector<char> buf_;
  mnl_nlmsg_batch* b_;
};

class ConntrackOffload : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ns = NetnsPair::create();
    ASSERT_TRUE(ns) << ns.error().describe();
    ns_.emplace(std::move(*ns));
    auto hook = std::make_unique<OffloadHook>(std::make_unique<codegen::kernel::LinuxKernel>());
    proto_ = nftables::make_nftables_protocol(std::move(hook));
    Result<Fd> rx = fail(EINVAL, "not created");
    ASSERT_TRUE(ns_->in_receiver([&] { rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
    ASSERT_TRUE(rx);
    rx_ = std::move(*rx);
  }

  int submit(Batch& b) {
    auto bytes = b.done();
    std::vector<nfnl::Message> replies;
    NoMulticast mc;
    nfnl::Peer peer{.portid = 100, .pid = 100, .comm = "nft", .cap_net_admin = true, .ext_ack = true};
    EXPECT_TRUE(ns_->in_receiver([&] { replies = proto_->handle(peer, bytes, mc); }));
    return testing::first_error(replies);
  }

  // Datagrams of a new flow (fresh source port) that reached the receiver.
  int delivered() {
    Result<Fd> tx = fail(EINVAL, "not created");
    EXPECT_TRUE(ns_->in_sender([&] { tx = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 0); }));
    if (!tx) return -1;
    auto sent = codegen::testing::udp_send(*tx, NetnsPair::kReceiverAddr, kPort, kPackets, 40);
    EXPECT_TRUE(sent && *sent == kPackets);
    return codegen::testing::udp_drain(rx_, 200);
  }

  bool anchor_listed() {
    return ns_->run_in_receiver({"nft", "list", "table", "ip", kConntrackAnchorTable}).has_value();
  }

  std::optional<NetnsPair> ns_;
  std::unique_ptr<nfnl::NetlinkProtocol> proto_;
  Fd rx_;
};

constexpr uint32_t kStateInvalid = 1, kStateNew = 8;

TEST_F(ConntrackOffload, CtStateInvalidDropKeepsNewFlowsAndTheAnchorFollowsTheRuleset) {
  EXPECT_FALSE(anchor_listed());
  Batch b(1);
  b.table("t").input_chain("t", "in").ct_rule("t", "in", NFT_CT_STATE, kStateInvalid, NF_DROP);
  ASSERT_EQ(submit(b), 0);
  EXPECT_TRUE(anchor_listed());
  EXPECT_EQ(delivered(), kPackets);  // new, not invalid: conntrack runs

  // ct state new drop: now the flows are dropped, which proves the rule runs and reads ct.
  Batch n(10);
  n.ct_rule("t", "in", NFT_CT_STATE, kStateNew, NF_DROP);
  ASSERT_EQ(submit(n), 0);
  EXPECT_EQ(delivered(), 0);

  Batch d(20);
  d.del_table("t");
  ASSERT_EQ(submit(d), 0);
  EXPECT_FALSE(anchor_listed());
  EXPECT_EQ(delivered(), kPackets);
}

TEST_F(ConntrackOffload, ARefusedBatchLeavesNoAnchor) {
  // ct id is refused by codegen (a hash with a boot-time secret): the batch fails after the
  // anchor was staged, and abort() takes it back.
  Batch b(1);
  b.table("t").input_chain("t", "in").ct_rule("t", "in", NFT_CT_ID, 1, NF_DROP);
  EXPECT_NE(submit(b), 0);
  EXPECT_FALSE(anchor_listed());
  EXPECT_EQ(delivered(), kPackets);
}

}  // namespace
}  // namespace nfbpf::offload
