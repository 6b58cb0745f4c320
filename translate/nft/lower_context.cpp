#include "translate/nft/lower_context.h"

#include <fmt/format.h>

#include "translate/ir/fields.h"

namespace nfbpf::translate::nft {

std::string LowerContext::where() const {
  return fmt::format("rule {} in chain {} {} {}", rule_handle, ir::to_string(family), table, chain);
}

}  // namespace nfbpf::translate::nft
