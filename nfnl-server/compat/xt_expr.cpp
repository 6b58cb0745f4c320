#include "nfnl-server/compat/xt_expr.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/x_tables.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "nfnl-server/sockopt/extensions.h"

namespace nfbpf::nfnl::compat {
namespace {

using sockopt::Extension;
using sockopt::ExtKind;

size_t xt_align(size_t n) { return (n + 7) & ~size_t(7); }

std::vector<uint8_t> be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}

// nft_match_policy / nft_target_policy (NAME NLA_NUL_STRING, REV NLA_POLICY_MAX(NLA_BE32, 255),
// INFO NLA_BINARY), checked by nla_parse_nested_deprecated without extack.
Result<void> check_policy(const std::map<uint16_t, nftables::Attr>& given) {
  if (auto n = given.find(1); n != given.end()) {
    const auto& p = n->second.payload;
    if (p.empty() || !std::memchr(p.data(), 0, p.size())) return fail(EINVAL, "");
  }
  if (auto r = given.find(2); r != given.end()) {
    if (r->second.payload.size() < 4) return fail(ERANGE, "");
    if (r->second.be32() > 255) return fail(ERANGE, "");
  }
  return {};
}

// nft_parse_compat(): the rule's l4 protocol and its inversion, for checkentry.
Result<void> parse_rule_compat(const nftables::Attr* a, uint16_t* proto, bool* inv) {
  static constexpr std::array<nftables::NlaPolicy, NFTA_RULE_COMPAT_MAX + 1> kPolicy = {{
      {}, {nftables::NlaType::kU32, 0}, {nftables::NlaType::kU32, 0}}};
  NFBPF_TRY_ASSIGN(tb, nftables::parse_nested(*a, kPolicy));
  if (!tb[NFTA_RULE_COMPAT_PROTO] || !tb[NFTA_RULE_COMPAT_FLAGS]) return fail(EINVAL, "");
  const uint32_t flags = tb[NFTA_RULE_COMPAT_FLAGS]->be32();
  if ((flags & NFT_RULE_COMPAT_F_UNUSED) || (flags & ~NFT_RULE_COMPAT_F_MASK))
    return fail(EINVAL, "");
  if (flags & NFT_RULE_COMPAT_F_INV) *inv = true;
  const uint32_t l4 = tb[NFTA_RULE_COMPAT_PROTO]->be32();
  if (l4 > 0xffff) return fail(EINVAL, "");
  *proto = uint16_t(l4);
  return {};
}

std::string name_of(const std::vector<uint8_t>& p) {
  return std::string(reinterpret_cast<const char*>(p.data()),
                     strnlen(reinterpret_cast<const char*>(p.data()), p.size()));
}

}  // namespace

Result<std::vector<store::ExprAttr>> build_xt_expr(bool target,
                                                   const std::map<uint16_t, nftables::Attr>& given,
                                                   const XtExprContext& ctx) {
  // NFTA_MATCH_* and NFTA_TARGET_* share the numbers NAME 1, REV 2, INFO 3.
  NFBPF_TRYV(check_policy(given));
  auto name_it = given.find(1), rev_it = given.find(2), info_it = given.find(3);
  if (name_it == given.end() || rev_it == given.end() || info_it == given.end())
    return fail(EINVAL, "");
  const std::string name = name_of({name_it->second.payload.begin(), name_it->second.payload.end()});
  const uint32_t rev = rev_it->second.be32();
  const std::span<const uint8_t> info = info_it->second.payload;
  if (target && (name == XT_ERROR_TARGET || name == XT_STANDARD_TARGET || name == "standard"))
    return fail(EINVAL, "");

  // select_ops: xt_request_find_match/target for the table's family (UNSPEC as a fallback);
  // any failure reads as ENOENT.
  int err = 0;
  const Extension* ext = sockopt::find_extension(target ? ExtKind::kTarget : ExtKind::kMatch,
                                                 ctx.family, name, uint8_t(rev), &err);
  if (!ext) return failf(ENOENT, "no x_tables {} {} revision {}", target ? "target" : "match", name, rev);
  if (ext->size >= 0 && size_t(ext->size) > info.size()) return fail(EINVAL, "");

  // init: match_compat_from_user copies the registered size and zeroes the alignment pad.
  const size_t size = ext->size >= 0 ? size_t(ext->size) : info.size();
  std::vector<uint8_t> data(xt_align(size), 0);
  std::copy_n(info.begin(), size, data.begin());

  uint16_t proto = 0;
  bool inv = false;
  if (ctx.rule_compat) NFBPF_TRYV(parse_rule_compat(ctx.rule_compat, &proto, &inv));

  // xt_check_match / xt_check_target with nft_match_set_mtchk_param's parameters.
  sockopt::CheckContext cc;
  cc.proto = proto;
  cc.inv_proto = inv;
  cc.ipv6_proto_set = proto != 0;
  cc.hook_mask = ctx.chain && ctx.chain->is_base() ? 1u << ctx.chain->hook->hooknum : 0;
  cc.table = ctx.table;
  cc.nft_compat = true;
  cc.family = ctx.family;
  if (ext->size >= 0 && xt_align(size_t(ext->size)) != xt_align(info.size()))
    return fail(EINVAL, "");
  if (!ext->table.empty() && ext->table != ctx.table) return fail(EINVAL, "");
  if (ext->hooks && (cc.hook_mask & ~ext->hooks)) return fail(EINVAL, "");
  if (ext->proto && (ext->proto != proto || inv)) return fail(EINVAL, "");
  if (ext->check) {
    const int r = ext->check({data.data(), size}, cc);
    if (r < 0) return fail(-r, "");
    if (r > 0) return fail(EIO, "");
  }

  // nft_extension_dump_info(): usersize bytes of the private copy, zeros to the aligned size.
  if (ext->usersize > 0) std::fill(data.begin() + ext->usersize, data.end(), 0);
  std::vector<store::ExprAttr> out(3);
  out[0].type = 1;
  out[0].payload.assign(ext->name.begin(), ext->name.end());
  out[0].payload.push_back(0);
  out[1].type = 2;
  out[1].payload = be32(ext->revision);
  out[2].type = 3;
  out[2].payload = std::move(data);
  return out;
}

Result<void> validate_xt_expr(const store::Expr& e, uint8_t family, const store::Chain& base) {
  if (family != NFPROTO_IPV4 && family != NFPROTO_IPV6 && family != NFPROTO_INET &&
      family != NFPROTO_BRIDGE && family != NFPROTO_ARP)
    return fail(EOPNOTSUPP, "");
  if (!base.is_base()) return {};
  const uint32_t hook = 1u << base.hook->hooknum;
  constexpr uint32_t kInetHooks = (1u << NF_INET_PRE_ROUTING) | (1u << NF_INET_LOCAL_IN) |
                                  (1u << NF_INET_FORWARD) | (1u << NF_INET_LOCAL_OUT) |
                                  (1u << NF_INET_POST_ROUTING);
  if (!(hook & kInetHooks)) return fail(EOPNOTSUPP, "");  // nft_chain_validate_hooks
  const store::ExprAttr* n = e.find(1);
  const store::ExprAttr* r = e.find(2);
  if (!n || !r) return {};
  int err = 0;
  const Extension* ext = sockopt::find_extension(
      e.name == "target" ? ExtKind::kTarget : ExtKind::kMatch, family, n->str(),
      uint8_t(r->be32()), &err);
  if (!ext) return {};
  if (ext->hooks && !(hook & ext->hooks)) return fail(EINVAL, "");
  // nft_compat_chain_validate_dependency(): a nat-table extension needs a nat base chain.
  if (ext->table == "nat" && family != NFPROTO_BRIDGE && base.hook->type != "nat")
    return fail(EINVAL, "");
  return {};
}

}  // namespace nfbpf::nfnl::compat
