#pragma once
// nft_compat's `match` and `target` expressions (iptables-nft rules carrying x_tables blobs):
// what nft_match_select_ops/nft_match_init (and the target twins) accept, the form
// nft_match_dump then lists, and what nft_match_validate checks when the batch commits.

#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "nfnl-server/nftables/nla.h"
#include "nfnl-server/store/chain.h"
#include "nfnl-server/store/expr.h"

namespace nfbpf::nfnl::compat {

struct XtExprContext {
  uint8_t family = 0;                         // the table's family (NFPROTO_*)
  std::string_view table;                     // the table's name (xt `.table` restrictions)
  const store::Chain* chain = nullptr;        // the rule's chain (its hook, if a base chain)
  const nftables::Attr* rule_compat = nullptr;  // the rule's NFTA_RULE_COMPAT, if any
};

// `given` holds the expression's NFTA_EXPR_DATA attributes (last one of each type). Returns the
// attributes the kernel dumps: NAME, REV, INFO (the registered size, aligned; bytes past the
// extension's usersize cleared), or the kernel's errno: EINVAL for a missing attribute, a
// reserved target name, a short INFO or a failed check, ENOENT for an unknown name/revision.
Result<std::vector<store::ExprAttr>> build_xt_expr(bool target,
                                                   const std::map<uint16_t, nftables::Attr>& given,
                                                   const XtExprContext& ctx);

// nft_match_validate/nft_target_validate for a rule reached from base chain `base` of a table
// of `family`: the hook must be one of the five inet hooks (EOPNOTSUPP), one the extension
// allows (EINVAL), and an extension of the nat table needs a nat chain (EINVAL).
Result<void> validate_xt_expr(const store::Expr& e, uint8_t family, const store::Chain& base);

}  // namespace nfbpf::nfnl::compat
