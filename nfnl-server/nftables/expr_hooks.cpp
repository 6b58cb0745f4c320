#include "nfnl-server/nftables/expr_hooks.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <string_view>

#include "nfnl-server/compat/xt_expr.h"

namespace nfbpf::nftables {
namespace {

constexpr uint32_t bit(int h) { return 1u << h; }
constexpr uint32_t kPre = bit(NF_INET_PRE_ROUTING), kIn = bit(NF_INET_LOCAL_IN),
                   kFwd = bit(NF_INET_FORWARD), kOut = bit(NF_INET_LOCAL_OUT),
                   kPost = bit(NF_INET_POST_ROUTING);

uint32_t u32_of(const store::Expr& e, uint16_t t, uint32_t dflt = 0) {
  const store::ExprAttr* a = e.find(t);
  return a ? a->be32() : dflt;
}

// nft_chain_validate_hooks()
Result<void> hooks(const store::Chain& base, uint32_t mask) {
  if (!(mask & bit(int(base.hook->hooknum)))) return fail(EOPNOTSUPP, "");
  return {};
}

// nft_chain_validate_dependency(): nat statements need a nat chain.
Result<void> nat_chain(const store::Chain& base) {
  if (base.hook->type != "nat") return fail(EOPNOTSUPP, "");
  return {};
}

}  // namespace

// objref of a synproxy object, directly or through an object map.
bool synproxy_ref(const store::Expr& e, const store::Rule& rule) {
  if (e.name != "objref") return false;
  if (const store::ExprAttr* t = e.find(NFTA_OBJREF_IMM_TYPE)) return t->be32() == NFT_OBJECT_SYNPROXY;
  for (const store::Set* s : rule.set_refs)
    if ((s->flags & NFT_SET_OBJECT) && s->obj_type == NFT_OBJECT_SYNPROXY) return true;
  return false;
}

bool needs_validation(const store::Expr& e, const store::Rule& rule) {
  if (synproxy_ref(e, rule)) return true;
  static constexpr std::string_view kKinds[] = {"fib",    "nat",    "masq",     "redir",
                                                "reject", "osf",    "synproxy", "tproxy",
                                                "socket", "rt",     "xfrm",     "flow_offload",
                                                "match",  "target"};
  for (auto k : kKinds)
    if (e.name == k) return true;
  return false;
}

Result<void> validate_in_chain(const store::Expr& e, const store::Rule& rule, uint8_t family,
                               const store::Chain& base) {
  if (synproxy_ref(e, rule)) return hooks(base, kIn | kFwd);
  if (e.name == "match" || e.name == "target") return nfnl::compat::validate_xt_expr(e, family, base);
  if (e.name == "fib") {
    const uint32_t result = u32_of(e, NFTA_FIB_RESULT), flags = u32_of(e, NFTA_FIB_FLAGS);
    switch (result) {
      case NFT_FIB_RESULT_OIF:
      case NFT_FIB_RESULT_OIFNAME:
        return hooks(base, kPre | kIn | kFwd);
      case NFT_FIB_RESULT_ADDRTYPE:
        if (flags & NFTA_FIB_F_IIF) return hooks(base, kPre | kIn | kFwd);
        if (flags & NFTA_FIB_F_OIF) return hooks(base, kOut | kPost | kFwd);
        return hooks(base, kPre | kIn | kFwd | kOut | kPost);
      default:
        return fail(EINVAL, "");
    }
  }
  if (e.name == "nat") {
    NFBPF_TRYV(nat_chain(base));
    return hooks(base, u32_of(e, NFTA_NAT_TYPE) == NFT_NAT_SNAT ? kPost | kIn : kPre | kOut);
  }
  if (e.name == "masq") {
    NFBPF_TRYV(nat_chain(base));
    return hooks(base, kPost);
  }
  if (e.name == "redir") {
    NFBPF_TRYV(nat_chain(base));
    return hooks(base, kPre | kOut);
  }
  if (e.name == "reject") return hooks(base, kIn | kFwd | kOut | kPre);
  if (e.name == "osf" && family == NFPROTO_IPV6) return fail(EOPNOTSUPP, "");
  if (e.name == "osf" || e.name == "flow_offload")
    return hooks(base, e.name == "osf" ? kIn | kPre | kFwd : kFwd);
  if (e.name == "synproxy") return hooks(base, kIn | kFwd);
  if (e.name == "tproxy") return hooks(base, kPre);
  if (e.name == "socket") return hooks(base, kPre | kIn | kOut);
  if (e.name == "rt" && u32_of(e, NFTA_RT_KEY) == NFT_RT_TCPMSS) return hooks(base, kFwd | kOut | kPost);
  if (e.name == "xfrm") {
    const store::ExprAttr* dir = e.find(NFTA_XFRM_DIR);
    const bool in = dir && !dir->payload.empty() && dir->payload[0] == 0;  // XFRM_POLICY_IN
    return hooks(base, in ? kPre | kIn | kFwd : kFwd | kOut | kPost);
  }
  return {};
}

}  // namespace nfbpf::nftables
