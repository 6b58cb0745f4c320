#include "codegen/chain/blocks.h"

#include <algorithm>

#include <fmt/format.h>

namespace nfbpf::codegen::chain {

namespace {

// The hard budgets, and the soft ones too when `soft`.
struct Budget {
  const BlockLimits* lim;
  bool soft;
  size_t insns = 0, pending = 0, verify = 0, calls = 0;
  void start(size_t fixed) {
    insns = fixed;
    pending = 0;
    verify = fixed;
    calls = 0;
  }
  void add(const RuleCost& r) {
    insns += r.insns;
    pending += r.pending;
    verify += r.verified();
    calls += r.calls;
  }
  bool ok() const {
    return insns <= lim->max_insns && pending <= lim->max_pending && verify * lim->verify_scale <= lim->max_verify &&
           (!soft || within_soft_budgets(insns, calls, verify, *lim));
  }
};

}  // namespace

bool within_soft_budgets(size_t insns, size_t calls, size_t verify, const BlockLimits& lim) {
  return std::max(verify, insns * lim.verify_per_insn) * lim.verify_scale <= lim.max_verify &&
         insns * calls <= lim.max_load_work;
}

bool fits_one_program(std::span<const RuleCost> rules, size_t fixed, const BlockLimits& lim) {
  Budget b{&lim, true};
  b.start(fixed);
  for (const RuleCost& r : rules) b.add(r);
  return b.ok();
}

namespace {

std::vector<size_t> plan(std::span<const RuleCost> rules, size_t fixed, const BlockLimits& lim, bool soft) {
  std::vector<size_t> starts{0};
  Budget b{&lim, soft};
  b.start(fixed);
  for (size_t i = 0; i < rules.size(); ++i) {
    const RuleCost& r = rules[i];
    // Start a new block unless this one is empty (a rule over the budget gets one to itself).
    Budget with = b;
    with.add(r);
    if (i > starts.back() && !with.ok()) {
      starts.push_back(i);
      b.start(fixed);
      b.add(r);
    } else {
      b = with;
    }
  }
  return starts;
}

}  // namespace

Result<std::vector<size_t>> plan_blocks(std::span<const RuleCost> rules, size_t fixed, const BlockLimits& lim) {
  std::vector<size_t> starts = plan(rules, fixed, lim, true);
  if (starts.size() > lim.max_blocks) starts = plan(rules, fixed, lim, false);  // capacity before load time
  if (starts.size() > lim.max_blocks) {
    size_t total = fixed;
    for (const RuleCost& r : rules) total += r.insns;
    return failf(EOPNOTSUPP,
                 "{} rules need {} programs of at most {} instructions, {} pending branches and about {} "
                 "instructions processed by the verifier each (about {} instructions in all); at most {} "
                 "can be chained (33 tail calls per packet, one is the dispatcher's)",
                 rules.size(), starts.size(), lim.max_insns, lim.max_pending, lim.max_verify / lim.verify_scale,
                 total, lim.max_blocks);
  }
  return starts;
}

}  // namespace nfbpf::codegen::chain
