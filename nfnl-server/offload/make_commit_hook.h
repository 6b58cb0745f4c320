#pragma once
// The daemon's choice of backend (`nfbpfd --offload=none|strict`):
//   none    rulesets are only stored and listed (AcceptAllHook): nothing runs.
//   strict  committed rulesets run as BPF (OffloadHook); a batch that cannot run entirely is
//           refused with the kernel-style errno (EOPNOTSUPP naming the chain/rule/expression).
//
//   auto hook = nfbpf::offload::make_commit_hook(*nfbpf::offload::parse_offload_mode("strict"));
//   auto proto = nfbpf::nftables::make_nftables_protocol(std::move(hook));

#include <memory>
#include <optional>
#include <string_view>

#include "nfnl-server/nftables/commit_hook.h"

namespace nfbpf::offload {

enum class OffloadMode { kNone, kStrict };

std::optional<OffloadMode> parse_offload_mode(std::string_view s);

// kStrict: an OffloadHook over the real bpf(2) syscall, attaching in the caller's network namespace.
std::unique_ptr<nftables::CommitHook> make_commit_hook(OffloadMode mode);

}  // namespace nfbpf::offload
