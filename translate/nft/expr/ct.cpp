// ct: load conntrack data. Setting conntrack data (ct mark set, ct helper set...) changes kernel
// state a BPF program cannot reach, so it is refused.
#include <linux/netfilter/nf_tables.h>

#include <array>

#include "translate/ir/fields.h"
#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

namespace {

// Register length per key as nft_ct_get_init() computes it; 0 = depends on the family.
constexpr std::array<uint32_t, static_cast<size_t>(ir::CtKey::kCount)> kCtLen = {
    4,   // state
    1,   // direction
    4,   // status
    4,   // mark
    4,   // secmark
    4,   // expiration
    16,  // helper
    1,   // l3protocol
    0,   // src
    0,   // dst
    1,   // protocol
    2,   // proto-src
    2,   // proto-dst
    16,  // labels
    8,   // packets
    8,   // bytes
    8,   // avgpkt
    2,   // zone
    4,   // event
    4,   // ip saddr
    4,   // ip daddr
    16,  // ip6 saddr
    16,  // ip6 daddr
    4,   // id
};

}  // namespace

Result<void> lower_ct(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  const uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY);
  if (key >= kCtLen.size()) return failf(EOPNOTSUPP, "ct: unknown key {} ({})", key, ctx.where());
  const auto k = static_cast<ir::CtKey>(key);
  if (nftnl_expr_is_set(e, NFTNL_EXPR_CT_SREG))
    return failf(EOPNOTSUPP, "ct {} set: changes conntrack state, which BPF cannot ({})", ir::to_string(k),
                 ctx.where());
  uint32_t len = kCtLen[key];
  if (len == 0) {
    if (ctx.family == ir::Family::kIp) len = 4;
    else if (ctx.family == ir::Family::kIp6 || ctx.family == ir::Family::kInet) len = 16;
    else return failf(EAFNOSUPPORT, "ct {}: needs an ip, ip6 or inet table ({})", ir::to_string(k), ctx.where());
  }
  ir::CtDir dir = ir::CtDir::kAny;
  if (nftnl_expr_is_set(e, NFTNL_EXPR_CT_DIR))
    dir = nftnl_expr_get_u8(e, NFTNL_EXPR_CT_DIR) == 0 ? ir::CtDir::kOriginal : ir::CtDir::kReply;
  auto dreg = reg_of(e, NFTNL_EXPR_CT_DREG);
  if (!dreg) return std::unexpected(std::move(dreg).error().with_context("ct"));
  ir::Field f{.base = ir::Base::kCt, .len = len, .key = static_cast<uint8_t>(key), .dir = dir};
  f.host_order = ir::natively_host_order(f);
  b.op(ir::reg::Load{*dreg, f});
  return {};
}

}  // namespace nfbpf::translate::nft::expr
