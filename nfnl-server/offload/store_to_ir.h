#pragma once
// The proposed ruleset of a transaction (store objects visible in "next") → the matcher IR.
//
// Rules and sets cross this seam in their wire form: each object is written as the kernel would
// list it (nftables/fill.h), parsed back with libnftnl and lowered by translate/nft. The wire
// format is the one interface the store and the translator already share exactly, so neither
// depends on the other's representation; the cost is a few microseconds per rule.

#include <functional>

#include "common/result.h"
#include "nfnl-server/store/ruleset.h"
#include "translate/ir/ir.h"

namespace nfbpf::offload {

// One table, lowered and run through the translate pipeline. EOPNOTSUPP names what cannot run.
Result<ir::Table> table_to_ir(const store::Table& table);

// Hybrid mode: the table with only the chains `keep` accepts (sets are all lowered).
Result<ir::Table> table_to_ir(const store::Table& table, const std::function<bool(const store::Chain&)>& keep);

// One rule lowered on its own (no table passes): the translator's refusal names what BPF cannot run.
Result<ir::Rule> lower_one_rule(const store::Table& table, const store::Chain& chain, const store::Rule& rule);

// Every table of `next` of a family nfbpf offloads (ip, ip6, inet, netdev).
Result<ir::Ruleset> ruleset_to_ir(const store::Ruleset& next);

}  // namespace nfbpf::offload
