#pragma once
// Sockopt sequences run against both the kernel and nfbpf (see backends.h).

#include "nfnl-server/sockopt/testing/backends.h"

namespace nfbpf::nfnl::sockopt::testing {

// GET_INFO/GET_ENTRIES of every table of both families (and of a missing one), length and
// size errors, GET_REVISION_* for known and unknown extensions.
void scenario_initial_tables(Backend& b, Trace& t);
// A ruleset with matches, REJECT, a user chain and a jump, replaced in; the old counters
// written back; ADD_COUNTERS; a second replace returning the added counters. Both families.
void scenario_replace_and_counters(Backend& b, Trace& t);
// The same ruleset corrupted in ~30 ways, each SET_REPLACE refused; the table unchanged after.
void scenario_bad_blobs(Backend& b, Trace& t);
// 1 000 seeded random corruptions per family of that ruleset (1-4 random bytes each, extension
// names spared so the kernel is not asked to load modules with garbage names), each replace's
// errno recorded; every accepted one is dumped.
void scenario_random_corruptions(Backend& b, Trace& t);

}  // namespace nfbpf::nfnl::sockopt::testing
