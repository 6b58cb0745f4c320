// lookup: set membership (or, with a destination register, a map lookup; into the verdict
// register it is a verdict map).
#include <linux/netfilter/nf_tables.h>

#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

Result<void> lower_lookup(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  auto sreg = reg_of(e, NFTNL_EXPR_LOOKUP_SREG);
  if (!sreg) return std::unexpected(std::move(sreg).error().with_context("lookup"));
  const char* set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
  if (!set) return failf(EINVAL, "lookup: no set name ({})", ctx.where());
  std::optional<uint8_t> dreg;
  if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG)) {
    auto d = reg_of(e, NFTNL_EXPR_LOOKUP_DREG);
    if (!d) return std::unexpected(std::move(d).error().with_context("lookup"));
    dreg = *d;
  }
  const bool invert = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) &&
                      (nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV);
  b.op(ir::reg::Lookup{*sreg, set, invert, dreg});
  return {};
}

}  // namespace nfbpf::translate::nft::expr
