#pragma once
// Probe packets for an x_tables table as the kernel of the CALLING thread's network namespace holds
// it: read with IPT_SO_GET_INFO / GET_ENTRIES (IP6T_SO_* for IPv6), lowered with translate/ipt and
// the translate pipeline exactly as nfbpfd's legacy offload does, then probe_set's table_probes
// (eval::rule_probes) on every rule. The x_tables counterpart of dump_table + table_probes.

#include <string>
#include <vector>

#include "common/result.h"
#include "nfnl-server/cli/verify/probe_set.h"

namespace nfbpf::verify {

// EOPNOTSUPP (and translate/ipt's message) when the table cannot be lowered; the sockopt's errno
// when it cannot be read; table_probes' errors otherwise.
Result<std::vector<ProbeFrame>> xt_table_probes(bool v6, const std::string& table, const ProbeRequest& req);

}  // namespace nfbpf::verify
