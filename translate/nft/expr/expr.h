#pragma once
// One lowering function per nft expression kind (expr/<kind>.cpp), found by name in a table
// (expr/registry.cpp). A kind BPF cannot run at a netfilter hook has a refusal reason instead,
// so the message names the expression: "reject: sends packets, cannot run in BPF".

#include <cstdint>
#include <cstdio>

#include <libnftnl/expr.h>

#include <string_view>

#include "common/result.h"
#include "translate/nft/lower_context.h"
#include "translate/nft/rule_builder.h"

namespace nfbpf::translate::nft::expr {

using LowerFn = Result<void> (*)(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx);

struct Kind {
  std::string_view name;       // libnftnl's expression name
  LowerFn lower;               // nullptr when refused
  std::string_view refusal;    // why it cannot be offloaded (when lower is nullptr)
};

// The kind for `name`, or nullptr if nfbpf has never heard of it.
const Kind* find_kind(std::string_view name);

// Byte data of a libnftnl attribute (empty if absent).
ir::Bytes data_of(const nftnl_expr* e, uint16_t attr);
// Register attribute converted to IR numbering.
Result<uint8_t> reg_of(const nftnl_expr* e, uint16_t attr);

Result<void> lower_payload(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_meta(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_ct(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_rt(const nftnl_expr*, RuleBuilder&, const LowerContext&);  // rt.cpp
Result<void> lower_exthdr(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_cmp(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_range(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_bitwise(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_byteorder(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_lookup(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_immediate(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_counter(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_limit(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_quota(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_log(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_objref(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_xt_match(const nftnl_expr*, RuleBuilder&, const LowerContext&);
Result<void> lower_xt_target(const nftnl_expr*, RuleBuilder&, const LowerContext&);

}  // namespace nfbpf::translate::nft::expr
