#include "translate/passes/pipeline.h"

#include "translate/ir/validate.h"
#include "translate/passes/form_matches.h"
#include "translate/passes/name_fields.h"

namespace nfbpf::translate::passes {

Result<void> run_pipeline(ir::Table& table) {
  NFBPF_TRYV(form_matches(table));
  NFBPF_TRYV(name_fields(table));
  return ir::validate(table);
}

}  // namespace nfbpf::translate::passes
