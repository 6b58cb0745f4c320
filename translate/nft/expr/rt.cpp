// rt: the packet's route (skb_dst), as nft_rt_get_eval reads it. classid, ip/ip6 nexthop and
// ipsec are loads like meta keys (no route, or the other family for a nexthop: the rule breaks);
// rt mtu (NFT_RT_TCPMSS) needs a route lookup toward the source (nf_route) and is refused.
#include <linux/netfilter/nf_tables.h>

#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

Result<void> lower_rt(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  const uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_RT_KEY);
  ir::MetaKey k;
  uint32_t len;
  bool host = true;
  switch (key) {
    case NFT_RT_CLASSID: k = ir::MetaKey::kRtClassid, len = 4; break;
    case NFT_RT_NEXTHOP4: k = ir::MetaKey::kRtNexthop4, len = 4, host = false; break;
    case NFT_RT_NEXTHOP6: k = ir::MetaKey::kRtNexthop6, len = 16, host = false; break;
    case NFT_RT_XFRM: k = ir::MetaKey::kRtIpsec, len = 1; break;
    case NFT_RT_TCPMSS:
      return failf(EOPNOTSUPP, "rt mtu: needs a route lookup toward the packet's source (nf_route), which BPF cannot ({})", ctx.where());
    default: return failf(EOPNOTSUPP, "rt: unknown key {} ({})", key, ctx.where());
  }
  auto dreg = reg_of(e, NFTNL_EXPR_RT_DREG);
  if (!dreg) return std::unexpected(std::move(dreg).error().with_context("rt"));
  b.op(ir::reg::Load{*dreg, ir::Field{.base = ir::Base::kMeta, .len = len, .key = static_cast<uint8_t>(k), .host_order = host}});
  return {};
}

}  // namespace nfbpf::translate::nft::expr
