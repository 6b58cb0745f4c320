#include <libnftnl/udata.h>
#include <linux/netfilter/nf_tables.h>

#include <cstring>
#include <memory>

#include "translate/nft/expr/expr.h"
#include "translate/nft/lower.h"

namespace nfbpf::translate::nft {

namespace {

struct ExprIterDeleter {
  void operator()(nftnl_expr_iter* it) const { nftnl_expr_iter_destroy(it); }
};

int comment_cb(const nftnl_udata* attr, void* data) {
  if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT) {
    const char* s = static_cast<const char*>(nftnl_udata_get(attr));
    uint8_t len = nftnl_udata_len(attr);
    *static_cast<std::string*>(data) = std::string(s, strnlen(s, len));
  }
  return 0;
}

std::string rule_comment(const nftnl_rule* r) {
  std::string comment;
  if (!nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) return comment;
  uint32_t len = 0;
  const void* ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
  if (ud) nftnl_udata_parse(ud, len, comment_cb, &comment);
  return comment;
}

}  // namespace

Result<ir::Rule> lower_rule(const nftnl_rule* rule, const LowerContext& rule_ctx) {
  LowerContext ctx = rule_ctx;
  if (nftnl_rule_is_set(rule, NFTNL_RULE_COMPAT_PROTO) &&
      !(nftnl_rule_get_u32(rule, NFTNL_RULE_COMPAT_FLAGS) & NFT_RULE_COMPAT_F_INV))
    ctx.compat_l4proto = uint16_t(nftnl_rule_get_u32(rule, NFTNL_RULE_COMPAT_PROTO));
  RuleBuilder b;
  std::unique_ptr<nftnl_expr_iter, ExprIterDeleter> it(nftnl_expr_iter_create(rule));
  if (!it) return fail(ENOMEM, "cannot iterate rule expressions");
  while (const nftnl_expr* e = nftnl_expr_iter_next(it.get())) {
    if (b.has_verdict()) break;  // dead: nft_do_chain never evaluates past a verdict
    const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    const expr::Kind* kind = expr::find_kind(name ? name : "");
    if (!kind) return failf(EOPNOTSUPP, "unknown expression '{}' ({})", name ? name : "?", ctx.where());
    if (!kind->lower) return failf(EOPNOTSUPP, "{}: {} ({})", kind->name, kind->refusal, ctx.where());
    NFBPF_TRYV(kind->lower(e, b, ctx));
  }
  ir::Rule r = b.take(ctx.rule_handle);
  r.comment = rule_comment(rule);
  return r;
}

ir::Family family_from_nfproto(uint32_t nfproto) {
  switch (nfproto) {
    case 2: return ir::Family::kIp;       // NFPROTO_IPV4
    case 10: return ir::Family::kIp6;     // NFPROTO_IPV6
    case 1: return ir::Family::kInet;     // NFPROTO_INET
    case 5: return ir::Family::kNetdev;   // NFPROTO_NETDEV
    case 3: return ir::Family::kArp;      // NFPROTO_ARP
    case 7: return ir::Family::kBridge;   // NFPROTO_BRIDGE
    default: return ir::Family::kCount;
  }
}

}  // namespace nfbpf::translate::nft
