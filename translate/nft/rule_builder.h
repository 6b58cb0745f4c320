#pragma once
// Collects the lowered form of one rule. Expression lowerers append register operations (which
// accumulate into the current RegisterBlock) or statements (which close it), and finally a
// verdict. Lowering is one-to-one and pattern-free; passes/form_matches turns register blocks
// into matchers afterwards, so a shape no pass knows still runs.

#include <optional>

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::translate::nft {

class RuleBuilder {
 public:
  void op(ir::reg::Op op);
  void step(ir::Step s);
  // A verdict ends the rule: nft_do_chain stops evaluating at the first verdict (NFT_BREAK
  // excepted), so later expressions are dead.
  void verdict(ir::Verdict v) { verdict_ = std::move(v); }
  bool has_verdict() const { return verdict_.has_value(); }

  ir::Rule take(uint64_t handle);

 private:
  std::vector<ir::Step> steps_;
  std::optional<ir::Verdict> verdict_;
};

// nft register numbers (NFT_REG_VERDICT, NFT_REG_1..4, NFT_REG32_00..15) to the IR's numbering
// in 4-byte units (0..19), as nft_parse_register() does. EINVAL for numbers nft would refuse.
Result<uint8_t> ir_register(uint32_t nft_reg);

}  // namespace nfbpf::translate::nft
