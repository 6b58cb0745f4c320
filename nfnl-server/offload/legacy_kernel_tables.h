#pragma once
// The kernel's own x_tables for the iptables-legacy tables BPF cannot run (nfbpfd
// --offload=hybrid): nfbpfd runs in the network namespace it serves, so a raw socket of its own
// reaches that namespace's real ip_tables/ip6_tables. The store (nfnl-server/sockopt) validated
// the blob exactly as the kernel would; this hands the same blob (entries, hook entries,
// underflows) to the kernel's IPT_SO_SET_REPLACE / IP6T_SO_SET_REPLACE and reads the kernel's
// counters back with IPT_SO_GET_ENTRIES. The store stays the source of truth for listings.
//
// x_tables tables cannot be deleted: a table that leaves the kernel is replaced by its
// built-in chains' ACCEPT policies (what the kernel instantiates), which changes no verdict.

#include <string>
#include <vector>

#include "common/result.h"
#include "nfnl-server/sockopt/xt_tables.h"

namespace nfbpf::offload {

class LegacyKernelTables {
 public:
  // The kernel's SET_REPLACE of table `t.name` with t's blob; on success the kernel's counters of
  // the table it replaced (blob order of that table). An Error carries the kernel's errno.
  Result<std::vector<xt_counters>> replace(int family, const nfnl::sockopt::XtTable& t);
  // The kernel table `name` back to the built-in chains' ACCEPT policies; the replaced table's counters.
  Result<std::vector<xt_counters>> empty(int family, const std::string& name);
  // Each entry's counters in the kernel's table `name` (GET_INFO + GET_ENTRIES).
  Result<std::vector<xt_counters>> counters(int family, const std::string& name);
};

}  // namespace nfbpf::offload
