#include "translate/passes/pipeline.h"

#include <cstdlib>
#include <string_view>

#include "translate/ir/validate.h"
#include "translate/passes/classify.h"
#include "translate/passes/form_matches.h"
#include "translate/passes/merge_runs.h"
#include "translate/passes/name_fields.h"
#include "translate/passes/prune_rules.h"

namespace nfbpf::translate::passes {

namespace {

// NFBPF_MERGE_MIN_RUN=<n> overrides the shortest run merge_runs turns into a lookup; 0 turns the
// pass off (benchmarks and differential tests compare both).
MergeOptions merge_options() {
  MergeOptions o;
  if (const char* v = std::getenv("NFBPF_MERGE_MIN_RUN"); v && *v) o.min_run = std::strtoul(v, nullptr, 10);
  return o;
}

// NFBPF_PRUNE=0 keeps dead, unreachable and shadowed rules (differential tests compare both).
bool prune_enabled() {
  const char* v = std::getenv("NFBPF_PRUNE");
  return !(v && std::string_view(v) == "0");
}

// NFBPF_CLASSIFY=0 keeps multi-field blocks linear (classify.h; differential tests and
// benchmarks compare both).
bool classify_enabled() {
  const char* v = std::getenv("NFBPF_CLASSIFY");
  return !(v && std::string_view(v) == "0");
}

}  // namespace

Result<void> run_pipeline(ir::Table& table) {
  NFBPF_TRYV(form_matches(table));
  NFBPF_TRYV(name_fields(table));
  if (prune_enabled()) {
    auto pruned = prune_rules(table);
    if (!pruned) return std::unexpected(std::move(pruned).error());
  }
  if (MergeOptions o = merge_options(); o.min_run > 0) {
    auto merged = merge_runs(table, o);
    if (!merged) return std::unexpected(std::move(merged).error());
  }
  if (classify_enabled()) {  // last: its blocks are rule positions
    auto classified = classify_rules(table);
    if (!classified) return std::unexpected(std::move(classified).error());
  }
  return ir::validate(table);
}

}  // namespace nfbpf::translate::passes
