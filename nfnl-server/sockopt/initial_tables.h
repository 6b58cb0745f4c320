#pragma once
// The tables ip_tables/ip6_tables register in every network namespace, with the contents
// xt_alloc_initial_table() gives them: one unconditional ACCEPT policy rule per valid hook, then
// the ERROR entry that ends every table.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "nfnl-server/sockopt/translate_table.h"

namespace nfbpf::nfnl::sockopt {

struct BuiltinTable {
  std::string_view name;
  uint32_t valid_hooks;
};

// filter, mangle, raw, security, nat: the same set and hooks for IPv4 and IPv6.
std::span<const BuiltinTable> builtin_tables();

// The SET_REPLACE-style header and blob the kernel builds for `table`.
template <typename Family>
std::vector<uint8_t> initial_blob(const BuiltinTable& table, ReplaceHeader& header);

}  // namespace nfbpf::nfnl::sockopt
