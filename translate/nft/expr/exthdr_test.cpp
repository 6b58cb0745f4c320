// exthdr lowering: the expression sequences nft 1.0.6 emits for extension headers, TCP options
// and SCTP chunks (tests-py *.payload) become kExtHdr fields the pipeline turns into matchers;
// packet rewrites and unmodelled kinds are refused with the reason.
#include <gtest/gtest.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nf_tables.h>

#include <memory>
#include <vector>

#include "translate/ir/printer.h"
#include "translate/nft/lower.h"
#include "translate/passes/pipeline.h"

namespace nfbpf::translate::nft {
namespace {

struct RuleDeleter {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};

class Rule {
 public:
  Rule() : r_(nftnl_rule_alloc()) {}
  // [ exthdr load <op> <len>b @ <type> + <off> [present] => reg 1 ]
  Rule& load(uint32_t op, uint8_t type, uint32_t off, uint32_t len, bool present = false) {
    nftnl_expr* e = add("exthdr");
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, op);
    nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, type);
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OFFSET, off);
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_LEN, len);
    if (present) nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_FLAGS, NFT_EXTHDR_F_PRESENT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_DREG, NFT_REG_1);
    return *this;
  }
  nftnl_expr* raw() { return add("exthdr"); }
  Rule& cmp(std::vector<uint8_t> data) {
    nftnl_expr* e = add("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data.data(), data.size());
    return *this;
  }
  Rule& bitwise(std::vector<uint8_t> mask) {
    nftnl_expr* e = add("bitwise");
    std::vector<uint8_t> x(mask.size(), 0);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, static_cast<uint32_t>(mask.size()));
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask.data(), mask.size());
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, x.data(), x.size());
    return *this;
  }
  const nftnl_rule* get() const { return r_.get(); }

 private:
  nftnl_expr* add(const char* kind) {
    nftnl_expr* e = nftnl_expr_alloc(kind);
    nftnl_rule_add_expr(r_.get(), e);
    return e;
  }
  std::unique_ptr<nftnl_rule, RuleDeleter> r_;
};

Result<std::string> lowered(const Rule& r, ir::Family fam = ir::Family::kInet) {
  ir::Table t{.family = fam, .name = "t"};
  t.chains.push_back(ir::Chain{.name = "c"});
  auto rule = lower_rule(r.get(), LowerContext{.family = fam, .table = "t", .chain = "c", .rule_handle = 1});
  if (!rule) return std::unexpected(rule.error());
  t.chains[0].rules.push_back(std::move(*rule));
  NFBPF_TRYV(passes::run_pipeline(t));
  return ir::to_string(t.chains[0].rules[0]);
}

TEST(LowerExtHdr, Ipv6FieldsBecomeMatchers) {
  // frag more-fragments 1
  Rule r;
  r.load(NFT_EXTHDR_OP_IPV6, 44, 3, 1).bitwise({1}).cmp({1});
  auto out = lowered(r, ir::Family::kIp6);
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out, "rule 1: exthdr ipv6 44 @3,1 & 01 == 01 -> continue");
  // exthdr hbh missing
  Rule m;
  m.load(NFT_EXTHDR_OP_IPV6, 0, 0, 1, true).cmp({0});
  out = lowered(m, ir::Family::kIp6);
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out, "rule 1: exthdr ipv6 0 present == 00 -> continue");
}

TEST(LowerExtHdr, TcpOptionsAndSctpChunks) {
  Rule mss;  // tcp option maxseg size 1
  mss.load(NFT_EXTHDR_OP_TCPOPT, 2, 2, 2).cmp({0, 1});
  auto out = lowered(mss);
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out, "rule 1: exthdr tcpopt 2 @2,2 == 0001 -> continue");
  Rule chunk;  // sctp chunk init-ack length 42
  chunk.load(NFT_EXTHDR_OP_SCTP, 2, 2, 2).cmp({0, 42});
  out = lowered(chunk, ir::Family::kIp);
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out, "rule 1: exthdr sctp 2 @2,2 == 002a -> continue");
}

TEST(LowerExtHdr, RewritesAndUnmodelledKindsAreRefused) {
  Rule set;  // tcp option maxseg size set 1360: [ exthdr write tcpopt reg 1 => 2b @ 2 + 2 ]
  nftnl_expr* e = set.raw();
  nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
  nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, 2);
  nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OFFSET, 2);
  nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_LEN, 2);
  nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_SREG, NFT_REG_1);
  auto out = lowered(set);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().err, EOPNOTSUPP);
  EXPECT_NE(out.error().msg.find("rewrite"), std::string::npos) << out.error().msg;

  Rule reset;  // reset tcp option 2: [ exthdr reset tcpopt 2 ]
  e = reset.raw();
  nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
  nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, 2);
  out = lowered(reset);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().err, EOPNOTSUPP);
  EXPECT_NE(out.error().msg.find("reset tcp option 2"), std::string::npos) << out.error().msg;

  Rule ipopt;  // ip option rr exists
  ipopt.load(NFT_EXTHDR_OP_IPV4, 7, 0, 1, true).cmp({1});
  out = lowered(ipopt, ir::Family::kIp);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().err, EOPNOTSUPP);
  EXPECT_NE(out.error().msg.find("IP option"), std::string::npos) << out.error().msg;
}

}  // namespace
}  // namespace nfbpf::translate::nft
