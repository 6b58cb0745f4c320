#include "translate/nft/rule_builder.h"

#include <linux/netfilter/nf_tables.h>

namespace nfbpf::translate::nft {

void RuleBuilder::op(ir::reg::Op op) {
  if (steps_.empty() || !std::holds_alternative<ir::RegisterBlock>(steps_.back()))
    steps_.emplace_back(ir::RegisterBlock{});
  std::get<ir::RegisterBlock>(steps_.back()).ops.push_back(std::move(op));
}

void RuleBuilder::step(ir::Step s) { steps_.push_back(std::move(s)); }

ir::Rule RuleBuilder::take(uint64_t handle) {
  ir::Rule r;
  r.handle = handle;
  r.steps = std::move(steps_);
  r.verdict = verdict_.value_or(ir::Verdict{});
  steps_.clear();
  verdict_.reset();
  return r;
}

Result<uint8_t> ir_register(uint32_t reg) {
  constexpr uint32_t kUnits16 = NFT_REG_SIZE / NFT_REG32_SIZE;  // 4
  if (reg <= NFT_REG_4) return static_cast<uint8_t>(reg * kUnits16);
  if (reg >= NFT_REG32_00 && reg <= NFT_REG32_15) return static_cast<uint8_t>(reg - NFT_REG32_00 + kUnits16);
  return failf(EINVAL, "register {} out of range", reg);
}

}  // namespace nfbpf::translate::nft
