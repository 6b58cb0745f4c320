#include "translate/passes/pipeline.h"

#include <cstdlib>

#include "translate/ir/validate.h"
#include "translate/passes/form_matches.h"
#include "translate/passes/merge_runs.h"
#include "translate/passes/name_fields.h"

namespace nfbpf::translate::passes {

namespace {

// NFBPF_MERGE_MIN_RUN=<n> overrides the shortest run merge_runs turns into a lookup; 0 turns the
// pass off (benchmarks and differential tests compare both).
MergeOptions merge_options() {
  MergeOptions o;
  if (const char* v = std::getenv("NFBPF_MERGE_MIN_RUN"); v && *v) o.min_run = std::strtoul(v, nullptr, 10);
  return o;
}

}  // namespace

Result<void> run_pipeline(ir::Table& table) {
  NFBPF_TRYV(form_matches(table));
  NFBPF_TRYV(name_fields(table));
  if (MergeOptions o = merge_options(); o.min_run > 0) {
    auto merged = merge_runs(table, o);
    if (!merged) return std::unexpected(std::move(merged).error());
  }
  return ir::validate(table);
}

}  // namespace nfbpf::translate::passes
