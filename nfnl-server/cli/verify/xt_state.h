#pragma once
// x_tables state of a side, as iptables-legacy-save / ip6tables-legacy-save print it: what empties
// it between two batch requests (every table that exists back to its built-in chains, policies
// ACCEPT, no user chain, counters zero), and every counter of one table as compat-tests keys it.

#include <string>

#include "nfnl-server/cli/verify/nft_ruleset.h"

namespace nfbpf::verify {

// iptables-restore input that empties every table `save_text` lists (one "*table" section each:
// restore without --noflush flushes the table, deletes its user chains and sets each built-in
// chain's policy and counters from its ":CHAIN ACCEPT [0:0]" line). "" when no table is listed.
// A table cannot be removed from a kernel (its hooks stay registered): emptied is the closest.
std::string empty_tables_restore(const std::string& save_text);

// The counters of `-save -c` output: "CHAIN#i" for the i-th rule of CHAIN and "policy CHAIN" for
// a built-in chain's policy, in table `table` only.
Counters save_counters(const std::string& save_text, const std::string& table);

}  // namespace nfbpf::verify
