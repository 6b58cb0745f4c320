#include "codegen/chain/blocks.h"

#include <fmt/format.h>

namespace nfbpf::codegen::chain {

bool fits_one_program(std::span<const RuleCost> rules, size_t fixed, const BlockLimits& lim) {
  size_t insns = fixed, pending = 0, verify = fixed;
  for (const RuleCost& r : rules) {
    insns += r.insns;
    pending += r.pending;
    verify += r.verified();
  }
  return insns <= lim.max_insns && pending <= lim.max_pending && verify <= lim.max_verify;
}

Result<std::vector<size_t>> plan_blocks(std::span<const RuleCost> rules, size_t fixed, const BlockLimits& lim) {
  std::vector<size_t> starts{0};
  size_t insns = fixed, pending = 0, verify = fixed;
  for (size_t i = 0; i < rules.size(); ++i) {
    const RuleCost& r = rules[i];
    const size_t p = r.pending;
    // Start a new block unless this one is empty (a rule over the budget gets one to itself).
    if (i > starts.back() && (insns + r.insns > lim.max_insns || pending + p > lim.max_pending ||
                              verify + r.verified() > lim.max_verify)) {
      starts.push_back(i);
      insns = fixed;
      pending = 0;
      verify = fixed;
    }
    insns += r.insns;
    pending += p;
    verify += r.verified();
  }
  if (starts.size() > lim.max_blocks) {
    size_t total = fixed;
    for (const RuleCost& r : rules) total += r.insns;
    return failf(EOPNOTSUPP,
                 "{} rules need {} programs of at most {} instructions, {} pending branches and about {} "
                 "instructions processed by the verifier each (about {} instructions in all); at most {} "
                 "can be chained (33 tail calls per packet, one is the dispatcher's)",
                 rules.size(), starts.size(), lim.max_insns, lim.max_pending, lim.max_verify, total, lim.max_blocks);
  }
  return starts;
}

}  // namespace nfbpf::codegen::chain
