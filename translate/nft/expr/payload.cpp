// payload: load header bytes into a register. Writes (payload set, with a checksum update) change
// the packet, which BPF netfilter programs may not do.
#include <linux/netfilter/nf_tables.h>

#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

Result<void> lower_payload(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  if (nftnl_expr_is_set(e, NFTNL_EXPR_PAYLOAD_SREG))
    return failf(EOPNOTSUPP, "payload set: a BPF netfilter program cannot rewrite packets ({})", ctx.where());
  ir::Base base;
  switch (nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE)) {
    case NFT_PAYLOAD_LL_HEADER: base = ir::Base::kLink; break;
    case NFT_PAYLOAD_NETWORK_HEADER: base = ir::Base::kNetwork; break;
    case NFT_PAYLOAD_TRANSPORT_HEADER: base = ir::Base::kTransport; break;
    default:
      return failf(EOPNOTSUPP, "payload: inner/tunnel header base {} is not supported ({})",
                   nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE), ctx.where());
  }
  auto dreg = reg_of(e, NFTNL_EXPR_PAYLOAD_DREG);
  if (!dreg) return std::unexpected(std::move(dreg).error().with_context("payload"));
  ir::Field f{.base = base,
              .offset = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET),
              .len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN)};
  b.op(ir::reg::Load{*dreg, f});
  return {};
}

}  // namespace nfbpf::translate::nft::expr
