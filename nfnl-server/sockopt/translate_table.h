#pragma once
// translate_table() from ip_tables.c / ip6_tables.c: validates a SET_REPLACE blob the way the
// kernel does, in the kernel's order, with the kernel's errno, and produces the table as the
// kernel keeps it (hook entries/underflows, comefrom hook masks from mark_source_chains, counters
// cleared). Nothing is changed on failure: the caller swaps tables only on success.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "nfnl-server/sockopt/xt_layout.h"

namespace nfbpf::nfnl::sockopt {

// xt_table_info: what the kernel keeps per table.
struct TableInfo {
  uint32_t size = 0;
  uint32_t number = 0;
  std::array<uint32_t, kNumHooks> hook_entry{};
  std::array<uint32_t, kNumHooks> underflow{};
  std::vector<uint8_t> entries;   // the entries; counters zero, comefrom = hook mask
  std::vector<uint32_t> offsets;  // offset of entry i (the counters follow this order)
};

// What SET_REPLACE carries besides the blob (struct ipt_replace / ip6t_replace, pointer-free).
struct ReplaceHeader {
  std::string_view table;  // the table the rules are checked for (checkentry's par->table)
  uint32_t valid_hooks = 0;
  uint32_t num_entries = 0;
  uint32_t size = 0;
  std::array<uint32_t, kNumHooks> hook_entry{};
  std::array<uint32_t, kNumHooks> underflow{};
};

// Family is Ipv4 or Ipv6. `blob` has exactly header.size bytes.
template <typename Family>
Result<TableInfo> translate_table(const ReplaceHeader& header, std::span<const uint8_t> blob);

}  // namespace nfbpf::nfnl::sockopt
