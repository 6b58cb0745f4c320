#pragma once
// nft objects (as libnftnl parses them from netlink) → IR. Lowering is one-to-one: each
// expression becomes a register operation or a statement (see rule_builder.h); the passes in
// translate/passes then recognise matchers. Refusals are EOPNOTSUPP naming the expression and
// the rule: "reject: sends ICMP or TCP reset replies, ... (rule 4 in chain ip filter input)".

#include <cstdint>
#include <cstdio>

#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "common/result.h"
#include "translate/ir/ir.h"
#include "translate/nft/lower_context.h"

namespace nfbpf::translate::nft {

Result<ir::Rule> lower_rule(const nftnl_rule* rule, const LowerContext& ctx);

// Elements are normalised to the IR's inclusive [key, key_end] intervals: nft sends a
// non-concatenated interval set as sorted boundaries (a start element opens an interval that
// lasts until the next boundary, an INTERVAL_END element closes it, exclusive), and a
// concatenated one with an inclusive KEY_END per element.
Result<ir::Set> lower_set(const nftnl_set* set);

ir::Family family_from_nfproto(uint32_t nfproto);

}  // namespace nfbpf::translate::nft
