#pragma once
// The whole nf_tables state of the (emulated) network namespace: tables in creation order, the
// global table handle counter and the generation id (the kernel's base_seq, starting at 1).
// This is what a CommitHook sees as the proposed next ruleset: objects with vis.next set.

#include <cstdint>
#include <list>
#include <memory>
#include <string_view>

#include "nfnl-server/store/table.h"

namespace nfbpf::store {

struct Ruleset {
  std::list<std::unique_ptr<Table>> tables;
  uint64_t table_handle = 0;
  uint64_t chain_clock = 0;  // the last Chain::created given out
  uint32_t genid = 1;

  Table* find_table(uint8_t family, std::string_view name) const;
  Table* find_table_by_handle(uint8_t family, uint64_t handle) const;
};

}  // namespace nfbpf::store
