#pragma once
// Pass: remove rules that can never apply their verdict or run a statement, so codegen neither
// emits nor runs them.
//
// - Impossible: a rule whose compares on one field contradict each other before any statement
//   runs (`ip saddr 1.2.3.4 ip saddr 5.6.7.8`, the `meta l4proto tcp` guard of `tcp dport` and
//   a later `meta l4proto udp`, `tcp dport > 100 tcp dport < 50`, an empty range, a masked value
//   with bits outside its mask, a lookup in a constant set without elements). Per field (and
//   mask) the values still possible are intersected (value_domain.h); prefixes of a
//   network-order field are intervals of the unmasked field, so `ip saddr 10.0.0.0/8
//   ip saddr 192.168.0.1` contradicts too.
// - Unreachable: rules after a rule without matches whose verdict ends the chain (accept, drop,
//   return, goto) and whose steps always hold (counters, logs, marks, named counters).
// - Shadowed: a rule R whose leading matches (those before its first statement) include every
//   match of an earlier rule G that ends the chain (accept, drop, return, goto) and has only
//   matches and always-holding statements (counters, logs, named counters). When R's leading
//   matches hold, G's held on the same packet before, so R never gets past them. Only when no
//   rule between G and R can change what a match reads: a mark or any meta set, a register
//   block, a verdict map or a jump (the called chain may set marks) between them ends every
//   earlier G's shadow. G's matches must not read time or `meta random` (those change between
//   rules). To stay linear in the rule count, candidates G are found through their last match
//   (a hash) and at most kShadowCandidates of them are tried per match of R.
//
// Why removing is exact: a removed rule never reached a statement, so the kernel would show its
// counters, quotas and limits untouched, and listings come from the store, not from the IR.
// A removed rule gets no counter slot; the daemon then lists the stored value, what the kernel
// reports for a rule that never matched (nfnl-server/offload/offload_hook.cpp counter_slot).
// Statements before the contradiction keep a rule (`counter ip saddr 1.1.1.1 ip saddr 2.2.2.2`
// counts every packet that reaches it, as in the kernel).
//
// Needs: form_matches (Match steps). Runs before merge_runs (which then sees longer runs).
// Keeps: the order and handles of the rules that stay; no step of a kept rule changes.

#include <cstddef>

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::translate::passes {

inline constexpr size_t kShadowCandidates = 16;

struct PruneStats {
  size_t impossible = 0;
  size_t unreachable = 0;
  size_t shadowed = 0;
  size_t removed() const { return impossible + unreachable + shadowed; }
};

Result<PruneStats> prune_rules(ir::Table& table);

// The parts, for tests: whether the rule's compares contradict before any statement runs.
bool impossible(const ir::Table& table, const ir::Rule& rule);

}  // namespace nfbpf::translate::passes
