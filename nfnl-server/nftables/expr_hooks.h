#pragma once
// The ->validate() side of expressions: which base-chain hooks (and chain types) an expression
// may run in. The kernel checks these for every rule reachable from a base chain when a batch
// commits (nft_table_validate), not when the rule is added, so a violation refuses the batch.

#include <cstdint>
#include <optional>

#include "common/result.h"
#include "nfnl-server/store/chain.h"
#include "nfnl-server/store/set.h"
#include "nfnl-server/store/expr.h"

namespace nfbpf::nftables {

// True if adding this expression makes the kernel validate its table (it has ->validate).
bool needs_validation(const store::Expr& e, const store::Rule& rule);

// Checks `e` for a rule reached from `base` (a base chain of a table of `family`).
// `rule` is the rule holding `e` (its set references matter for object maps).
Result<void> validate_in_chain(const store::Expr& e, const store::Rule& rule, uint8_t family,
                               const store::Chain& base);

}  // namespace nfbpf::nftables
