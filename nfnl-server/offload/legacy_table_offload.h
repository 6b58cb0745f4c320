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

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nfnl-server/offload/offload_hook.h"
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

  OffloadHook& hook_;
  std::map<TableId, uint64_t> registered_;  // when each table was instantiated
  std::map<TableId, Running> running_;
  uint64_t generation_ = 0;
};

}  // namespace nfbpf::offload
