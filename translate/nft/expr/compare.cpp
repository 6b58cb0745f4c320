// cmp and range: the comparisons that end a rule when they fail.
#include <linux/netfilter/nf_tables.h>

#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

Result<void> lower_cmp(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  auto sreg = reg_of(e, NFTNL_EXPR_CMP_SREG);
  if (!sreg) return std::unexpected(std::move(sreg).error().with_context("cmp"));
  ir::Op op;
  switch (nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP)) {
    case NFT_CMP_EQ: op = ir::Op::kEq; break;
    case NFT_CMP_NEQ: op = ir::Op::kNe; break;
    case NFT_CMP_LT: op = ir::Op::kLt; break;
    case NFT_CMP_LTE: op = ir::Op::kLe; break;
    case NFT_CMP_GT: op = ir::Op::kGt; break;
    case NFT_CMP_GTE: op = ir::Op::kGe; break;
    default:
      return failf(EOPNOTSUPP, "cmp: unknown operator {} ({})", nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP), ctx.where());
  }
  b.op(ir::reg::Cmp{*sreg, op, data_of(e, NFTNL_EXPR_CMP_DATA)});
  return {};
}

Result<void> lower_range(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  auto sreg = reg_of(e, NFTNL_EXPR_RANGE_SREG);
  if (!sreg) return std::unexpected(std::move(sreg).error().with_context("range"));
  const uint32_t op = nftnl_expr_get_u32(e, NFTNL_EXPR_RANGE_OP);
  if (op != NFT_RANGE_EQ && op != NFT_RANGE_NEQ)
    return failf(EOPNOTSUPP, "range: unknown operator {} ({})", op, ctx.where());
  b.op(ir::reg::Range{*sreg, op == NFT_RANGE_NEQ, data_of(e, NFTNL_EXPR_RANGE_FROM_DATA),
                      data_of(e, NFTNL_EXPR_RANGE_TO_DATA)});
  return {};
}

}  // namespace nfbpf::translate::nft::expr
