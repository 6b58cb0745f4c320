// Stateful statements: counter, limit, quota, log, and references to named objects.
#include <linux/netfilter/nf_tables.h>

#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

Result<void> lower_counter(const nftnl_expr*, RuleBuilder& b, const LowerContext&) {
  b.step(ir::Counter{});
  return {};
}

Result<void> lower_limit(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  ir::Limit l;
  l.rate = nftnl_expr_get_u64(e, NFTNL_EXPR_LIMIT_RATE);
  l.unit_seconds = nftnl_expr_get_u64(e, NFTNL_EXPR_LIMIT_UNIT);
  l.burst = nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_BURST);
  l.bytes = nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_TYPE) == NFT_LIMIT_PKT_BYTES;
  l.over = nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_FLAGS) & NFT_LIMIT_F_INV;
  if (l.rate == 0 || l.unit_seconds == 0) return failf(EINVAL, "limit: zero rate or unit ({})", ctx.where());
  b.step(l);
  return {};
}

Result<void> lower_quota(const nftnl_expr* e, RuleBuilder& b, const LowerContext&) {
  ir::Quota q;
  q.bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_QUOTA_BYTES);
  q.consumed = nftnl_expr_get_u64(e, NFTNL_EXPR_QUOTA_CONSUMED);
  q.over = nftnl_expr_get_u32(e, NFTNL_EXPR_QUOTA_FLAGS) & NFT_QUOTA_F_INV;
  b.step(q);
  return {};
}

Result<void> lower_log(const nftnl_expr* e, RuleBuilder& b, const LowerContext&) {
  ir::Log l;
  if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_PREFIX)) l.prefix = nftnl_expr_get_str(e, NFTNL_EXPR_LOG_PREFIX);
  if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_GROUP)) l.group = nftnl_expr_get_u16(e, NFTNL_EXPR_LOG_GROUP);
  if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_LEVEL)) l.level = nftnl_expr_get_u32(e, NFTNL_EXPR_LOG_LEVEL);
  if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_FLAGS)) l.flags = nftnl_expr_get_u32(e, NFTNL_EXPR_LOG_FLAGS);
  b.step(l);
  return {};
}

Result<void> lower_objref(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  if (!nftnl_expr_is_set(e, NFTNL_EXPR_OBJREF_IMM_NAME))
    return failf(EOPNOTSUPP, "objref map: selecting stateful objects by a map is not supported yet ({})", ctx.where());
  const uint32_t type = nftnl_expr_get_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE);
  const std::string name = nftnl_expr_get_str(e, NFTNL_EXPR_OBJREF_IMM_NAME);
  switch (type) {
    case NFT_OBJECT_COUNTER: b.step(ir::ObjectRef{"counter", name}); return {};
    case NFT_OBJECT_QUOTA: b.step(ir::ObjectRef{"quota", name}); return {};
    case NFT_OBJECT_LIMIT: b.step(ir::ObjectRef{"limit", name}); return {};
    case NFT_OBJECT_CT_HELPER: return failf(EOPNOTSUPP, "ct helper set: assigns a conntrack helper ({})", ctx.where());
    case NFT_OBJECT_CT_TIMEOUT: return failf(EOPNOTSUPP, "ct timeout set: changes conntrack state ({})", ctx.where());
    case NFT_OBJECT_CT_EXPECT: return failf(EOPNOTSUPP, "ct expectation set: changes conntrack state ({})", ctx.where());
    case NFT_OBJECT_SECMARK: return failf(EOPNOTSUPP, "meta secmark set: not supported ({})", ctx.where());
    case NFT_OBJECT_SYNPROXY: return failf(EOPNOTSUPP, "synproxy: answers handshakes for the server ({})", ctx.where());
    default: return failf(EOPNOTSUPP, "objref: object type {} is not supported ({})", type, ctx.where());
  }
}

}  // namespace nfbpf::translate::nft::expr
