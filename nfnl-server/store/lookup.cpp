// Name and handle lookups. Names are unique among objects active in "next"; an object deleted
// and re-created in one batch exists twice until commit, hence the visibility filter.
#include "nfnl-server/store/ruleset.h"

namespace nfbpf::store {

Chain* Table::find_chain(std::string_view n) const {
  auto [b, e] = chain_by_name.equal_range(std::string(n));
  for (auto it = b; it != e; ++it)
    if (it->second->vis.next) return it->second;
  return nullptr;
}

Chain* Table::find_chain_by_handle(uint64_t h) const {
  for (const auto& c : chains)
    if (c->handle == h && c->vis.next) return c.get();
  return nullptr;
}

Set* Table::find_set(std::string_view n) const {
  for (const auto& s : sets)
    if (s->name == n && s->vis.next) return s.get();
  return nullptr;
}

Set* Table::find_set_by_handle(uint64_t h) const {
  for (const auto& s : sets)
    if (s->handle == h && s->vis.next) return s.get();
  return nullptr;
}

Object* Table::find_object(std::string_view n, uint32_t type) const {
  for (const auto& o : objects)
    if (o->name == n && o->type == type && o->vis.next) return o.get();
  return nullptr;
}

Object* Table::find_object_by_handle(uint64_t h, uint32_t type) const {
  for (const auto& o : objects)
    if (o->handle == h && o->type == type && o->vis.next) return o.get();
  return nullptr;
}

Table* Ruleset::find_table(uint8_t family, std::string_view n) const {
  for (const auto& t : tables)
    if (t->family == family && t->name == n && t->vis.next) return t.get();
  return nullptr;
}

Table* Ruleset::find_table_by_handle(uint8_t family, uint64_t h) const {
  for (const auto& t : tables)
    if (t->family == family && t->handle == h && t->vis.next) return t.get();
  return nullptr;
}

}  // namespace nfbpf::store
