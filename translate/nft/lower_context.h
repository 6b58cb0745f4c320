#pragma once
// What lowering an nft rule needs to know besides the rule: where it sits (for messages and for
// family-dependent lengths) and how to read the sets it refers to.

#include <cstdint>
#include <string>

#include "translate/ir/ir.h"

namespace nfbpf::translate::nft {

struct LowerContext {
  ir::Family family = ir::Family::kIp;
  std::string table;
  std::string chain;
  uint64_t rule_handle = 0;
  // NFTA_RULE_COMPAT's protocol when not inverted (iptables-nft's `-p`), 0 otherwise: what xt
  // matches lowered by translate/ipt take as the entry's protocol.
  uint16_t compat_l4proto = 0;

  // "rule 5 in chain inet t c": appended to every refusal so the user can find the rule.
  std::string where() const;
};

}  // namespace nfbpf::translate::nft
