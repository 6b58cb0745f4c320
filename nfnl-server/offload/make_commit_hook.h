#pragma once
// The daemon's choice of backend (`nfbpfd --offload=none|strict`):
//   none    rulesets are only stored and listed (AcceptAllHook): nothing runs.
//   strict  committed rulesets run as BPF (OffloadHook); a batch that cannot run entirely is
//           refused with the kernel-style errno (EOPNOTSUPP naming the chain/rule/expression).
//   hybrid  (the default) what BPF can run runs as BPF, the other chains run in the kernel's own
//           nf_tables in the daemon's namespace (HybridHook, docs/offload.md "Hybrid mode").
//
//   auto proto = nfbpf::offload::make_offload_protocol(*nfbpf::offload::parse_offload_mode("strict"));
// which is make_nftables_protocol(make_commit_hook(mode)).

#include <functional>
#include <memory>
#include <string>
#include <optional>
#include <string_view>

#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/nftables/commit_hook.h"

namespace nfbpf::offload {

enum class OffloadMode { kNone, kStrict, kHybrid };

std::optional<OffloadMode> parse_offload_mode(std::string_view s);

// kStrict: an OffloadHook over the real bpf(2) syscall, attaching in the caller's network namespace.
std::unique_ptr<nftables::CommitHook> make_commit_hook(OffloadMode mode);

// The nf_tables protocol with that hook: what nfbpfd's main() hands to its Server.
std::unique_ptr<nfnl::NetlinkProtocol> make_offload_protocol(OffloadMode mode);

// The same, plus the backend's status as JSON text (offload/status.h) for `nfbpf status`. The
// function reads the hook the protocol owns: call it only while `protocol` lives, on its thread.
//
// With persistence (strict and hybrid; docs/offload.md "Persistence", "Hybrid mode: persistence"):
// restore() adopts what an earlier daemon pinned and replays its saved ruleset through the
// protocol (call it once, before serving; hybrid: its kernel tables are adopted too); stop(flush)
// at a clean exit either leaves the pinned programs (and hybrid's persistent kernel tables)
// filtering (flush = false) or removes everything and deletes the saved state (`--flush-on-exit`).
class OffloadHook;
struct OffloadBackend {
  std::unique_ptr<nfnl::NetlinkProtocol> protocol;
  std::function<std::string()> status_json;
  std::function<Result<void>()> restore = [] { return Result<void>{}; };
  std::function<void(bool flush)> stop = [](bool) {};
  // strict: the hook the protocol owns (valid while `protocol` lives), e.g. for the x_tables
  // backend (legacy_table_offload.h); none: nullptr.
  OffloadHook* hook = nullptr;
};
struct PersistOptions;
OffloadBackend make_offload_backend(OffloadMode mode);
OffloadBackend make_offload_backend(OffloadMode mode, const PersistOptions& persist);

}  // namespace nfbpf::offload
