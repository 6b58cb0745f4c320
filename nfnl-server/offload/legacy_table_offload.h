#pragma once
// iptables-legacy / ip6tables-legacy filter tables as BPF (nfbpfd --offload=strict).
//
// The x_tables store (nfnl-server/sockopt) calls this backend:
//   - when a table is instantiated (the kernel registers its hooks then: the built-in filter
//     table, all policies ACCEPT, starts running and counting its policies at that moment);
//   - at SET_REPLACE, after every kernel check passed: the new table is lowered
//     (translate/ipt), run through the translate passes and handed to OffloadHook as an extra
//     table beside the committed nft ruleset (same planning, dispatchers and kernel ordering at
//     a shared attach point: NF_IP_PRI_FILTER = 0 next to an nft chain at priority 0, the most
//     recently registered first). Any failure refuses the SET_REPLACE with the error's errno
//     (EOPNOTSUPP for what cannot run) and leaves the old table and programs running;
//   - for listings: each entry's packets/bytes are its rule's Counter slot.
//
// Counters: each replace runs under a new IR table name ("iptables-legacy/filter/<n>"), so the
// new table's slots are fresh (zero, as the kernel's new xt_table_info) and the replaced table's
// are read right before the swap (what SET_REPLACE hands back as the old counters).
//
// Other tables (mangle, raw, nat, security) do not run as BPF: a SET_REPLACE that gives them any
// rule or a DROP policy is refused (EOPNOTSUPP, naming the table); one that leaves them empty
// with ACCEPT policies (iptables-restore of an empty *nat section) is taken, since such a table
// changes no verdict. With --offload=none no backend is installed and every table is only stored.
//
// --offload=hybrid (set_kernel_tables): what BPF cannot run goes to the kernel's own x_tables
// instead of being refused (legacy_kernel_tables.h): the filter table when a rule does not
// lower (EOPNOTSUPP), every other table that holds a rule or a DROP policy. The kernel's
// SET_REPLACE comes first; if it refuses, the client's SET_REPLACE is refused with its errno and
// both sides keep their old state. A table that moves to the kernel stops running as BPF; one
// that moves back to BPF leaves an empty kernel table (its built-in chains' ACCEPT policies).
// A kernel-placed table's counters are the kernel's (its GET_ENTRIES).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nfnl-server/offload/legacy_kernel_tables.h"
#include "nfnl-server/offload/offload_hook.h"
#include "nfnl-server/offload/status.h"
#include "nfnl-server/sockopt/xt_tables.h"

namespace nfbpf::offload {

class LegacyTableOffload final : public nfnl::sockopt::XtBackend {
 public:
  explicit LegacyTableOffload(OffloadHook& hook) : hook_(hook) {}

  Result<std::vector<xt_counters>> replace(int family, const nfnl::sockopt::XtTable& current,
                                           const nfnl::sockopt::XtTable& next) override;
  std::vector<xt_counters> counted(int family, const nfnl::sockopt::XtTable& t) override;
  void instantiated(int family, const nfnl::sockopt::XtTable& table) override;

  // The IR table name the running table of (family, x_tables name) has, for tests and status.
  std::optional<std::string> running_name(int family, const std::string& table) const;
  // hybrid: tables BPF cannot run go to the kernel's x_tables. Not owned; nullptr = strict.
  void set_kernel_tables(LegacyKernelTables* kernel) { kernel_ = kernel; }
  bool in_kernel(int family, const std::string& table) const { return in_kernel_.contains(TableId{family, table}); }
  // Every table a client instantiated or replaced: where it runs and, in the kernel, why.
  std::vector<LegacyTableStatus> status() const;
  // On a clean stop: the kernel-placed tables back to ACCEPT policies only, as the BPF-run ones
  // die with the daemon (legacy tables are not persisted), so no half keeps running alone.
  void release_kernel_tables();
  // On a clean stop: the BPF-run tables leave the hook too. With --bpffs the hook keeps its
  // attach points pinned and running after the daemon exits, and a restarted daemon's store
  // starts with built-in (empty) legacy tables: the old rules would keep filtering unlisted.
  void release_bpf_tables();

 private:
  using TableId = std::pair<int, std::string>;  // family, x_tables name
  struct Running {
    uint64_t registered = 0;
    ir::Table ir;
    // Entry index (blob order) → the IR rule that counts it (chain, handle); none for ERROR
    // entries and entries the walk did not place in a chain.
    std::vector<std::optional<std::pair<std::string, uint64_t>>> entry_rule;
  };

  // The table lowered for `family` and named for generation `gen`, with its entry map.
  Result<Running> lower(int family, const nfnl::sockopt::XtTable& t, uint64_t gen) const;
  std::vector<xt_counters> read(const Running& r, size_t entries) const;
  // Runs `fresh` as BPF in place of `id`'s running table (none: `id` leaves BPF); `retired`
  // gets what the replaced BPF table counted for `current`'s entries.
  Result<void> swap_bpf(const TableId& id, const nfnl::sockopt::XtTable& current, std::optional<Running> fresh,
                        std::vector<xt_counters>& retired);
  Result<std::vector<xt_counters>> replace_hybrid(int family, const nfnl::sockopt::XtTable& current,
                                                  const nfnl::sockopt::XtTable& next);

  OffloadHook& hook_;
  std::map<TableId, uint64_t> registered_;  // when each table was instantiated
  std::map<TableId, Running> running_;
  uint64_t generation_ = 0;
  LegacyKernelTables* kernel_ = nullptr;
  std::map<TableId, std::string> in_kernel_;  // hybrid: tables the kernel's x_tables run → why
};

}  // namespace nfbpf::offload
