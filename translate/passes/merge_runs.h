#pragma once
// Pass: runs of rules that differ only in the value one field is compared with become one rule
// that looks the field up in a set (a hash map for exact values, an LPM trie for prefixes).
//
//   ip saddr 172.16.0.1 drop            ip saddr @__nfbpf_run0 drop
//   ip saddr 172.16.0.2 drop     →      (set __nfbpf_run0: 172.16.0.1, 172.16.0.2, 10.1.0.0/16)
//   ip saddr 10.1.0.0/16 drop
//
// A run is a maximal sequence of consecutive rules of one chain that
// - have the same verdict and the same steps, except at one position k, where each has
//   `key == value` (op kEq) on the same single field: with no mask or the same mask for every
//   rule (the set then holds the masked values and the lookup applies the mask), or with
//   prefix masks of any length on a network-order field (the set then holds intervals);
// - have only Match steps, but for one anonymous Counter as the last step (no quotas, limits,
//   logs, marks, register blocks, verdict maps: a per-rule effect elsewhere would need to know
//   which rule matched); and no `meta random` match (evaluating it once instead of once per rule
//   would change the odds).
// Counting runs keep exact per-rule counters: the set is a data map from each key to the index
// of the first rule it belongs to, the merged rule carries ir::Rule::merged (the rules' handles),
// and codegen bumps that rule's own counter slot. Their prefixes must be disjoint (the kernel
// counts the first matching rule, a trie would find the longest).
// Verdict order is kept: only consecutive rules merge, so a rule with another verdict between two
// runs stays between them. Steps other than k are pure and identical, so evaluating them once
// gives what each rule would have. A packet matching several rules of a run gets the run's
// verdict once; for accept/drop/return/goto that is all the first match would do. A jump comes
// back and would go on with the next rules of the run, so jumps (and continue) merge only when
// no packet can match two rules of the run (distinct exact values, or disjoint prefixes).
//
// Runs shorter than MergeOptions::min_run stay linear: a compare costs 0.15-0.4 ns (test_run /
// live), a 4-byte hash lookup about 20 ns, so a run pays off from about 50-150 rules (measured:
// 100 linear compares 52 ns, the merged lookup 57 ns, the bare program 34 ns; docs/performance.md).
//
// The new sets are appended to the table's sets (anonymous, constant), named kRunSetPrefix + n:
// existing sets keep their indices. The merged rule keeps the first rule's handle.
//
// Needs: form_matches (Match steps). Keeps: verdicts and their order, set indices.

#include <cstddef>
#include <string_view>

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::translate::passes {

inline constexpr std::string_view kRunSetPrefix = "__nfbpf_run";

struct MergeOptions {
  size_t min_run = 64;  // shorter runs stay linear compares (break-even near 50-150 rules, docs/performance.md)
};

struct MergeStats {
  size_t runs = 0;          // runs merged
  size_t rules_merged = 0;  // rules they held
};

Result<MergeStats> merge_runs(ir::Table& table, const MergeOptions& opt = {});

}  // namespace nfbpf::translate::passes
