#pragma once
// The `log` statement: one abi::LogEvent per logged packet into the ring buffer map "nfbpf_log"
// (BPF_MAP_TYPE_RINGBUF, kLogRingBytes, shared by every program like the counters), which nfbpfd
// turns into the kernel's nf_log line (nfnl-server/offload/log_events.h). The record carries the
// rule's prefix, level and flags as immediates, the devices' names, skb mark/len, the MAC header
// and up to kLogDataMax linear bytes from the network header, and (flags skuid) the socket's
// fsuid/fsgid as nf_log_dump_sk_uid_gid reads them. A full ring drops the record (bounded: the
// packet path never waits); the statement always holds (log never changes the verdict).
// Netfilter, tc and cgroup_skb; XDP has no sk_buff (EOPNOTSUPP). Clobbers r0-r5.
// nflog (`log group N`) and `log level audit` are refused by the translator.

#include <string_view>

#include "codegen/kernel/objects.h"
#include "codegen/matcher/context.h"

namespace nfbpf::codegen::chain {

inline constexpr std::string_view kLogRingMapName = "nfbpf_log";

Result<void> emit_log(matcher::EmitCtx& c, const ir::Log& l);

// The ring buffer map itself (created by RuntimeTables on first use).
Result<kernel::Map> create_log_ring(kernel::Kernel& k);

}  // namespace nfbpf::codegen::chain
