#pragma once
// A table: a family's namespace for chains and sets. Chains, rules and sets draw their handles
// from one per-table counter, as in the kernel (table->hgenerator).

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "nfnl-server/store/chain.h"
#include "nfnl-server/store/object.h"
#include "nfnl-server/store/set.h"
#include "nfnl-server/store/visibility.h"

namespace nfbpf::store {

struct Table {
  uint8_t family = 0;
  std::string name;
  uint64_t handle = 0;
  uint32_t flags = 0;  // NFT_TABLE_F_DORMANT | OWNER | PERSIST
  uint32_t owner = 0;  // port id when NFT_TABLE_F_OWNER
  std::optional<std::vector<uint8_t>> userdata;
  uint32_t use = 0;  // chains + sets (+ objects, flowtables)
  uint64_t next_handle = 0;
  Visibility vis;

  std::list<std::unique_ptr<Chain>> chains;  // dump order = creation order
  std::unordered_multimap<std::string, Chain*> chain_by_name;
  std::list<std::unique_ptr<Set>> sets;
  std::list<std::unique_ptr<Object>> objects;

  uint64_t alloc_handle() { return ++next_handle; }

  // Lookups see objects active in the transaction being built ("next").
  Chain* find_chain(std::string_view n) const;
  Chain* find_chain_by_handle(uint64_t handle) const;
  Set* find_set(std::string_view n) const;
  Set* find_set_by_handle(uint64_t handle) const;
  // Objects are keyed by (name, type): a counter and a quota may share a name.
  Object* find_object(std::string_view n, uint32_t type) const;
  Object* find_object_by_handle(uint64_t handle, uint32_t type) const;
};

}  // namespace nfbpf::store
