// nfbpfd refuses what the running kernel lacks, with the kernel's errno, according to the
// kernel capability answer (kernel_caps.h). The answers are installed by hand here so the test
// is independent of the machine; the errnos are what this machine's kernel answers to
// `unshare -n nft ...` for the same commands (queue without CONFIG_NFT_QUEUE: ENOENT; bridge
// `meta ibrname` without nft_meta_bridge: EOPNOTSUPP; secmark without an LSM: ENOENT).
#include "nfnl-server/nftables/kernel_caps.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <linux/netfilter/nfnetlink.h>

#include <cstring>

#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/test_client.h"

namespace nfbpf::nftables {
namespace {

using testing::Bytes;

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

nfnl::Peer peer() {
  nfnl::Peer p;
  p.portid = 91;
  p.pid = 91;
  p.comm = "test";
  p.cap_net_admin = true;
  p.ext_ack = true;
  return p;
}

// BATCH_BEGIN, one message built by `build` (seq 7), BATCH_END.
template <typename F>
Bytes batch_of(F&& build) {
  Bytes buf(65536, 0);
  size_t off = 0;
  auto next = [&] {
    return reinterpret_cast<char*>(buf.data() + off);
  };
  auto commit = [&] { off += NLMSG_ALIGN(reinterpret_cast<nlmsghdr*>(buf.data() + off)->nlmsg_len); };
  nftnl_batch_begin(next(), 1);
  commit();
  build(next());
  commit();
  nftnl_batch_end(next(), 8);
  commit();
  buf.resize(off);
  return buf;
}

Bytes rule_msg(uint8_t family, const char* table, const char* chain, nftnl_expr* e) {
  return batch_of([&](char* at) {
    nftnl_rule* r = nftnl_rule_alloc();
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
    nftnl_rule_add_expr(r, e);
    nlmsghdr* h = nftnl_rule_nlmsg_build_hdr(at, NFT_MSG_NEWRULE, family,
                                             NLM_F_CREATE | NLM_F_APPEND, 7);
    nftnl_rule_nlmsg_build_payload(h, r);
    nftnl_rule_free(r);
  });
}

Bytes obj_msg(uint8_t family, const char* table, uint32_t type,
              void (*fill)(nftnl_obj*)) {
  return batch_of([&](char* at) {
    nftnl_obj* o = nftnl_obj_alloc();
    nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, table);
    nftnl_obj_set_str(o, NFTNL_OBJ_NAME, "o");
    nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, type);
    fill(o);
    nlmsghdr* h = nftnl_nlmsg_build_hdr(at, NFT_MSG_NEWOBJ, family, NLM_F_CREATE, 7);
    nftnl_obj_nlmsg_build_payload(h, o);
    nftnl_obj_free(o);
  });
}

Bytes flowtable_msg(uint8_t family, const char* table) {
  return batch_of([&](char* at) {
    nftnl_flowtable* f = nftnl_flowtable_alloc();
    nftnl_flowtable_set_str(f, NFTNL_FLOWTABLE_TABLE, table);
    nftnl_flowtable_set_str(f, NFTNL_FLOWTABLE_NAME, "f");
    nftnl_flowtable_set_u32(f, NFTNL_FLOWTABLE_HOOKNUM, NF_NETDEV_INGRESS);
    nftnl_flowtable_set_u32(f, NFTNL_FLOWTABLE_PRIO, 10);
    nlmsghdr* h = nftnl_nlmsg_build_hdr(at, NFT_MSG_NEWFLOWTABLE, family, NLM_F_CREATE, 7);
    nftnl_flowtable_nlmsg_build_payload(h, f);
    nftnl_flowtable_free(f);
  });
}

// Rewrites NFTA_OBJ_TYPE of the NEWOBJ (second message) of a batch_of() buffer.
bool patch_obj_type(Bytes& b, uint32_t type) {
  size_t msg = NLMSG_ALIGN(reinterpret_cast<nlmsghdr*>(b.data())->nlmsg_len);
  const size_t end = msg + reinterpret_cast<nlmsghdr*>(b.data() + msg)->nlmsg_len;
  for (size_t off = msg + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)); off + NLA_HDRLEN <= end;) {
    nlattr a;
    std::memcpy(&a, b.data() + off, sizeof a);
    if (a.nla_len < NLA_HDRLEN) return false;
    if ((a.nla_type & NLA_TYPE_MASK) == NFTA_OBJ_TYPE) {
      const uint32_t be = htonl(type);
      std::memcpy(b.data() + off + NLA_HDRLEN, &be, 4);
      return true;
    }
    off += NLA_ALIGN(a.nla_len);
  }
  return false;
}

// NEWSET of an ipv4_addr set carrying one expression for its elements.
Bytes set_msg(uint8_t family, const char* table, nftnl_expr* e) {
  return batch_of([&](char* at) {
    nftnl_set* st = nftnl_set_alloc();
    nftnl_set_set_str(st, NFTNL_SET_TABLE, table);
    nftnl_set_set_str(st, NFTNL_SET_NAME, "s");
    nftnl_set_set_u32(st, NFTNL_SET_KEY_TYPE, 7);  // ipv4_addr
    nftnl_set_set_u32(st, NFTNL_SET_KEY_LEN, 4);
    nftnl_set_set_u32(st, NFTNL_SET_ID, 1);
    nftnl_set_add_expr(st, e);
    nlmsghdr* h = nftnl_nlmsg_build_hdr(at, NFT_MSG_NEWSET, family, NLM_F_CREATE, 7);
    nftnl_set_nlmsg_build_payload(h, st);
    nftnl_set_free(st);
  });
}

nftnl_expr* queue_expr() {
  nftnl_expr* e = nftnl_expr_alloc("queue");
  nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_NUM, 1);
  nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_TOTAL, 1);
  return e;
}

nftnl_expr* meta_get(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
  return e;
}

class KernelCapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    proto_ = make_nftables_protocol();
    for (uint8_t f : {NFPROTO_IPV4, NFPROTO_INET, NFPROTO_BRIDGE})
      ASSERT_EQ(run(testing::Batch().table(f, "t").chain(f, "t", "c").done()), 0);
  }
  void TearDown() override { set_kernel_caps({}); }

  // The error of the message with seq 7 (0: none).
  int run(const Bytes& req) {
    NoMulticast mc;
    int err = 0;
    for (const auto& r : testing::parse_replies(proto_->handle(peer(), req, mc)))
      if (r.type == NLMSG_ERROR && r.error) err = -r.error;
    return err;
  }

  std::unique_ptr<nfnl::NetlinkProtocol> proto_;
};

TEST_F(KernelCapsTest, ExpressionTypeTheKernelLacksIsEnoentInThatFamilyOnly) {
  KernelCaps caps;
  caps.probed = true;
  caps.missing_exprs = {{NFPROTO_IPV4, "queue"}};
  set_kernel_caps(caps);
  EXPECT_EQ(run(rule_msg(NFPROTO_IPV4, "t", "c", queue_expr())), ENOENT);
  EXPECT_EQ(run(rule_msg(NFPROTO_INET, "t", "c", queue_expr())), 0);
  set_kernel_caps({});
  EXPECT_EQ(run(rule_msg(NFPROTO_IPV4, "t", "c", queue_expr())), 0);
}

// notrack carries no attributes at all; its type is checked just the same.
TEST_F(KernelCapsTest, AttributelessExpressionIsCheckedToo) {
  KernelCaps caps;
  caps.probed = true;
  caps.missing_exprs = {{NFPROTO_IPV4, "notrack"}};
  set_kernel_caps(caps);
  EXPECT_EQ(run(rule_msg(NFPROTO_IPV4, "t", "c", nftnl_expr_alloc("notrack"))), ENOENT);
  EXPECT_EQ(run(rule_msg(NFPROTO_INET, "t", "c", nftnl_expr_alloc("notrack"))), 0);
}

// Set expressions (nft_set_elem_expr_alloc) are typed in the table's family as well.
TEST_F(KernelCapsTest, SetExpressionTypeIsChecked) {
  KernelCaps caps;
  caps.probed = true;
  caps.missing_exprs = {{NFPROTO_IPV4, "counter"}};
  set_kernel_caps(caps);
  EXPECT_EQ(run(set_msg(NFPROTO_IPV4, "t", nftnl_expr_alloc("counter"))), ENOENT);
  EXPECT_EQ(run(set_msg(NFPROTO_INET, "t", nftnl_expr_alloc("counter"))), 0);
}

TEST_F(KernelCapsTest, MetaKeyGetsTheKernelsErrno) {
  KernelCaps caps;
  caps.probed = true;
  caps.meta_get_errors = {{{NFPROTO_BRIDGE, NFT_META_BRI_IIFNAME}, EOPNOTSUPP}};
  set_kernel_caps(caps);
  EXPECT_EQ(run(rule_msg(NFPROTO_BRIDGE, "t", "c", meta_get(NFT_META_BRI_IIFNAME))), EOPNOTSUPP);
  EXPECT_EQ(run(rule_msg(NFPROTO_BRIDGE, "t", "c", meta_get(NFT_META_MARK))), 0);
}

TEST_F(KernelCapsTest, SecmarkObjectIsEnoentWhenContextsDoNotResolve) {
  auto secmark = [](nftnl_obj* o) {
    nftnl_obj_set_str(o, NFTNL_OBJ_SECMARK_CTX, "system_u:object_r:ssh_server_packet_t:s0");
  };
  KernelCaps caps;
  caps.probed = true;
  caps.secmark_unresolvable = true;
  set_kernel_caps(caps);
  EXPECT_EQ(run(obj_msg(NFPROTO_IPV4, "t", NFT_OBJECT_SECMARK, secmark)), ENOENT);
  caps.secmark_unresolvable = false;
  set_kernel_caps(caps);
  EXPECT_EQ(run(obj_msg(NFPROTO_IPV4, "t", NFT_OBJECT_SECMARK, secmark)), 0);
}

TEST_F(KernelCapsTest, ObjectTypeTheKernelLacksIsEnoent) {
  auto counter = [](nftnl_obj*) {};
  KernelCaps caps;
  caps.probed = true;
  caps.missing_objects = {{NFPROTO_INET, NFT_OBJECT_COUNTER}};
  set_kernel_caps(caps);
  EXPECT_EQ(run(obj_msg(NFPROTO_INET, "t", NFT_OBJECT_COUNTER, counter)), ENOENT);
  EXPECT_EQ(run(obj_msg(NFPROTO_IPV4, "t", NFT_OBJECT_COUNTER, counter)), 0);
  // No kernel has type 99 (libnftnl cannot build one: a counter message with the type patched).
  Bytes odd = obj_msg(NFPROTO_IPV4, "t", NFT_OBJECT_COUNTER, counter);
  ASSERT_TRUE(patch_obj_type(odd, 99));
  EXPECT_EQ(run(odd), ENOENT);
}

// A table family the kernel was built without is EOPNOTSUPP (nft_supported_family).
TEST_F(KernelCapsTest, TableFamilyTheKernelLacksIsEopnotsupp) {
  KernelCaps caps;
  caps.probed = true;
  caps.unsupported_families = {NFPROTO_ARP};
  set_kernel_caps(caps);
  EXPECT_EQ(run(testing::Batch().table(NFPROTO_ARP, "a").done()), EOPNOTSUPP);
  EXPECT_EQ(run(testing::Batch().table(NFPROTO_IPV6, "a").done()), 0);
  set_kernel_caps({});
  EXPECT_EQ(run(testing::Batch().table(NFPROTO_ARP, "a").done()), 0);
}

// The kernel without a flowtable type answers ENOENT (as `unshare -n nft -f` of a flowtable
// does on this machine); with one, nfbpfd still refuses, as it does not emulate flowtables.
TEST_F(KernelCapsTest, FlowtableIsEnoentWithoutAFlowtableType) {
  KernelCaps caps;
  caps.probed = true;
  caps.missing_flowtables = {NFPROTO_INET};
  set_kernel_caps(caps);
  EXPECT_EQ(run(flowtable_msg(NFPROTO_INET, "t")), ENOENT);
  EXPECT_EQ(run(flowtable_msg(NFPROTO_INET, "nosuch")), ENOENT);  // the table lookup
  set_kernel_caps({});
  EXPECT_EQ(run(flowtable_msg(NFPROTO_INET, "t")), EOPNOTSUPP);
}

}  // namespace
}  // namespace nfbpf::nftables
