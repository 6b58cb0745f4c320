#include "translate/ir/ir.h"

namespace nfbpf::ir {

const Chain* find_chain(const Table& t, std::string_view name) {
  for (const auto& c : t.chains)
    if (c.name == name) return &c;
  return nullptr;
}

const Set* find_set(const Table& t, std::string_view name) {
  for (const auto& s : t.sets)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace nfbpf::ir
