// Use counts across a transaction: an anonymous map goes with the rule it is bound to, and so
// do the chain and object references its elements hold (nft_map_deactivate()). Checked against
// this machine's kernel: after `nft flush chain ip t b` removes `ip saddr vmap { 1.1.1.1 : jump
// c }`, `nft delete chain ip t c` succeeds; while the rule exists it is EBUSY.
#include <gtest/gtest.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <string>

#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/test_client.h"

namespace nfbpf::nftables {
namespace {

using testing::Batch;
using testing::first_error;

constexpr uint32_t kAddr = 0x01010101;  // 1.1.1.1 (byte-symmetric)

nftnl_set* anon_set(uint32_t flags) {
  nftnl_set* s = nftnl_set_alloc();
  nftnl_set_set_str(s, NFTNL_SET_TABLE, "t");
  nftnl_set_set_str(s, NFTNL_SET_NAME, "__map%d");
  nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | flags);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 7);  // nft's ipv4_addr
  nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
  nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
  return s;
}

// `ip saddr` into register 1, then `tail` (a lookup or objref on the anonymous set).
nftnl_rule* rule_on_saddr(nftnl_expr* tail) {
  nftnl_rule* r = nftnl_rule_alloc();
  nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "t");
  nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "b");
  nftnl_expr* p = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_OFFSET, 12);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_LEN, 4);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_rule_add_expr(r, p);
  nftnl_rule_add_expr(r, tail);
  return r;
}

nftnl_rule* flush_chain_b() {
  nftnl_rule* r = nftnl_rule_alloc();
  nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "t");
  nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "b");
  return r;
}

TEST(AnonymousSetRefs, VmapJumpTargetIsFreedWithItsRule) {
  auto p = make_nftables_protocol();
  nftnl_set* m = anon_set(NFT_SET_MAP);
  nftnl_set_set_u32(m, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
  nftnl_set* els = anon_set(NFT_SET_MAP);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &kAddr, 4);
  nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, uint32_t(NFT_JUMP));
  nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, "c");
  nftnl_set_elem_add(els, e);
  nftnl_expr* lookup = nftnl_expr_alloc("lookup");
  nftnl_expr_set_u32(lookup, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(lookup, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_str(lookup, NFTNL_EXPR_LOOKUP_SET, "__map%d");
  nftnl_expr_set_u32(lookup, NFTNL_EXPR_LOOKUP_SET_ID, 1);
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .chain(NFPROTO_IPV4, "t", "c")
                                .base_chain(NFPROTO_IPV4, "t", "b", NF_INET_LOCAL_IN, 0)
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, m)
                                .elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, els)
                                .rule(NFT_MSG_NEWRULE, NFPROTO_IPV4, rule_on_saddr(lookup))
                                .done()),
            0);

  auto delete_c = [] {
    nftnl_chain* c = nftnl_chain_alloc();
    nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "t");
    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "c");
    return Batch().chain_msg(NFT_MSG_DELCHAIN, NFPROTO_IPV4, c).done();
  };
  EXPECT_EQ(first_error(*p, delete_c()), EBUSY);
  ASSERT_EQ(first_error(*p, Batch().rule(NFT_MSG_DELRULE, NFPROTO_IPV4, flush_chain_b(), 0).done()), 0);
  EXPECT_EQ(first_error(*p, delete_c()), 0);
}

TEST(AnonymousSetRefs, AbortedRuleDeleteKeepsTheTargetBusy) {
  // The rule delete and a failing message in one batch: abort must restore the element's use.
  auto p = make_nftables_protocol();
  nftnl_set* m = anon_set(NFT_SET_MAP);
  nftnl_set_set_u32(m, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
  nftnl_set* els = anon_set(NFT_SET_MAP);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &kAddr, 4);
  nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, uint32_t(NFT_JUMP));
  nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, "c");
  nftnl_set_elem_add(els, e);
  nftnl_expr* lookup = nftnl_expr_alloc("lookup");
  nftnl_expr_set_u32(lookup, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(lookup, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_str(lookup, NFTNL_EXPR_LOOKUP_SET, "__map%d");
  nftnl_expr_set_u32(lookup, NFTNL_EXPR_LOOKUP_SET_ID, 1);
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .chain(NFPROTO_IPV4, "t", "c")
                                .base_chain(NFPROTO_IPV4, "t", "b", NF_INET_LOCAL_IN, 0)
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, m)
                                .elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, els)
                                .rule(NFT_MSG_NEWRULE, NFPROTO_IPV4, rule_on_saddr(lookup))
                                .done()),
            0);
  // Second message fails (no such chain): the first one's staging is undone.
  ASSERT_EQ(first_error(*p, Batch()
                                .rule(NFT_MSG_DELRULE, NFPROTO_IPV4, flush_chain_b(), 0)
                                .rule_jump(NFPROTO_IPV4, "t", "nosuch", "c")
                                .done()),
            ENOENT);
  nftnl_chain* c = nftnl_chain_alloc();
  nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "t");
  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "c");
  EXPECT_EQ(first_error(*p, Batch().chain_msg(NFT_MSG_DELCHAIN, NFPROTO_IPV4, c).done()), EBUSY);
}

TEST(AnonymousSetRefs, ObjectMapReferenceIsFreedWithItsRule) {
  auto p = make_nftables_protocol();
  nftnl_obj* o = nftnl_obj_alloc();
  nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, "t");
  nftnl_obj_set_str(o, NFTNL_OBJ_NAME, "cnt");
  nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
  nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_BYTES, 0);
  nftnl_set* m = anon_set(NFT_SET_OBJECT);
  nftnl_set_set_u32(m, NFTNL_SET_OBJ_TYPE, NFT_OBJECT_COUNTER);
  nftnl_set* els = anon_set(NFT_SET_OBJECT);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &kAddr, 4);
  nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_OBJREF, "cnt");
  nftnl_set_elem_add(els, e);
  nftnl_expr* objref = nftnl_expr_alloc("objref");
  nftnl_expr_set_u32(objref, NFTNL_EXPR_OBJREF_SET_SREG, NFT_REG_1);
  nftnl_expr_set_str(objref, NFTNL_EXPR_OBJREF_SET_NAME, "__map%d");
  nftnl_expr_set_u32(objref, NFTNL_EXPR_OBJREF_SET_ID, 1);
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .base_chain(NFPROTO_IPV4, "t", "b", NF_INET_LOCAL_IN, 0)
                                .obj(NFT_MSG_NEWOBJ, NFPROTO_IPV4, o)
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, m)
                                .elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, els)
                                .rule(NFT_MSG_NEWRULE, NFPROTO_IPV4, rule_on_saddr(objref))
                                .done()),
            0);
  auto delete_cnt = [] {
    nftnl_obj* d = nftnl_obj_alloc();
    nftnl_obj_set_str(d, NFTNL_OBJ_TABLE, "t");
    nftnl_obj_set_str(d, NFTNL_OBJ_NAME, "cnt");
    nftnl_obj_set_u32(d, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
    return Batch().obj(NFT_MSG_DELOBJ, NFPROTO_IPV4, d, 0).done();
  };
  EXPECT_EQ(first_error(*p, delete_cnt()), EBUSY);
  ASSERT_EQ(first_error(*p, Batch().rule(NFT_MSG_DELRULE, NFPROTO_IPV4, flush_chain_b(), 0).done()), 0);
  EXPECT_EQ(first_error(*p, delete_cnt()), 0);
}

}  // namespace
}  // namespace nfbpf::nftables
