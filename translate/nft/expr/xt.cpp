// nft_compat's `match` and `target` expressions (iptables-nft): the x_tables blob they carry is
// lowered by the same code as iptables-legacy's entries (translate/ipt), so both front ends
// mean the same thing by the same extension. What translate/ipt refuses is refused here with
// its reason; what only a whole x_tables table can express is refused precisely:
// - tables sets a match would need (multiport's port lists): an nft rule cannot add sets;
// - IPv4 `tcp`: tcp_mt's hotdrop of offset-8 fragments is a rule of its own in the legacy walk.
#include "translate/nft/expr/expr.h"

#include <libnftnl/expr.h>

#include <fmt/format.h>

#include "translate/ipt/extension.h"

namespace nfbpf::translate::nft::expr {

namespace {

Result<void> lower_xt(bool target, const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  const uint16_t name_attr = target ? uint16_t(NFTNL_EXPR_TG_NAME) : uint16_t(NFTNL_EXPR_MT_NAME);
  const uint16_t rev_attr = target ? uint16_t(NFTNL_EXPR_TG_REV) : uint16_t(NFTNL_EXPR_MT_REV);
  const uint16_t info_attr = target ? uint16_t(NFTNL_EXPR_TG_INFO) : uint16_t(NFTNL_EXPR_MT_INFO);
  const char* n = nftnl_expr_get_str(e, name_attr);
  const std::string name = n ? n : "";
  const char* what = target ? "target" : "match";
  if (ctx.family != ir::Family::kIp && ctx.family != ir::Family::kIp6)
    return failf(EOPNOTSUPP, "xt {} {}: only ip and ip6 tables carry x_tables extensions here ({})",
                 what, name, ctx.where());
  const ipt::Extension* ext = target ? ipt::find_target(name) : ipt::find_match(name);
  if (!ext) return failf(EOPNOTSUPP, "xt {} {}: unknown extension ({})", what, name, ctx.where());
  if (!ext->lower)
    return failf(EOPNOTSUPP, "xt {} {}: {} ({})", what, name, ext->refusal, ctx.where());
  if (!target && name == "tcp" && ctx.family == ir::Family::kIp)
    return failf(EOPNOTSUPP,
                 "xt match tcp: its drop of TCP fragments at offset 8 (hotdrop) is not lowered "
                 "inside an nft rule ({})", ctx.where());

  const ir::Bytes info = data_of(e, info_attr);
  ipt::EntryContext ec;
  ec.family = ctx.family;
  ec.table = ctx.table;
  ec.chain = ctx.chain;
  ec.entry_index = uint32_t(ctx.rule_handle);
  ec.l4proto = ctx.compat_l4proto;
  std::vector<ir::Step> steps;
  std::vector<ir::Set> sets;
  std::string comment;
  ipt::EntryOut out{.steps = steps, .table_sets = sets, .comment = comment, .verdict = {}};
  const ipt::ExtensionData data{name, uint8_t(nftnl_expr_get_u32(e, rev_attr)), info};
  if (auto r = ext->lower(data, out, ec); !r) {
    return failf(r.error().err, "xt {} {}: {} ({})", what, name, r.error().msg, ctx.where());
  }
  if (!sets.empty())
    return failf(EOPNOTSUPP, "xt {} {}: needs a set of its own, which an nft rule cannot add ({})",
                 what, name, ctx.where());
  for (ir::Step& s : steps) b.step(std::move(s));
  // nft_target_eval_xt: XT_CONTINUE goes on with the rule, any other verdict ends it.
  if (target && out.verdict.kind != ir::VerdictKind::kContinue) b.verdict(out.verdict);
  return {};
}

}  // namespace

Result<void> lower_xt_match(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  return lower_xt(false, e, b, ctx);
}

Result<void> lower_xt_target(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  return lower_xt(true, e, b, ctx);
}

}  // namespace nfbpf::translate::nft::expr
