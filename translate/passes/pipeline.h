#pragma once
// The order of translate passes lives here and only here.

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::translate::passes {

// Runs every pass on a lowered table (form_matches, name_fields, prune_rules, merge_runs, classify_rules), then ir::validate().
Result<void> run_pipeline(ir::Table& table);

}  // namespace nfbpf::translate::passes
