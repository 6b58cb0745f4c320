// immediate: a constant into a data register, or a verdict into the verdict register.
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

Result<void> lower_immediate(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  auto dreg = reg_of(e, NFTNL_EXPR_IMM_DREG);
  if (!dreg) return std::unexpected(std::move(dreg).error().with_context("immediate"));
  if (*dreg != 0) {
    b.op(ir::reg::Immediate{*dreg, data_of(e, NFTNL_EXPR_IMM_DATA)});
    return {};
  }
  const auto code = static_cast<int32_t>(nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT));
  const char* chain = nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN) ? nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN) : "";
  switch (code) {
    case NF_ACCEPT: b.verdict({ir::VerdictKind::kAccept, {}}); return {};
    case NF_DROP: b.verdict({ir::VerdictKind::kDrop, {}}); return {};
    case NFT_RETURN: b.verdict({ir::VerdictKind::kReturn, {}}); return {};
    case NFT_JUMP: b.verdict({ir::VerdictKind::kJump, chain}); return {};
    case NFT_GOTO: b.verdict({ir::VerdictKind::kGoto, chain}); return {};
    case NFT_CONTINUE: return {};  // nft_do_chain keeps evaluating the rule after "continue"
    case NF_QUEUE: return failf(EOPNOTSUPP, "immediate queue: queues packets to userspace ({})", ctx.where());
    default: return failf(EOPNOTSUPP, "immediate: verdict {} is not supported ({})", code, ctx.where());
  }
}

}  // namespace nfbpf::translate::nft::expr
