#include "nfnl-server/offload/make_commit_hook.h"

#include "codegen/kernel/linux_kernel.h"
#include "nfnl-server/nftables/kernel_caps.h"
#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/offload/offload_hook.h"

#include <nlohmann/json.hpp>

namespace nfbpf::offload {

std::optional<OffloadMode> parse_offload_mode(std::string_view s) {
  if (s == "none") return OffloadMode::kNone;
  if (s == "strict") return OffloadMode::kStrict;
  return std::nullopt;
}

std::unique_ptr<nftables::CommitHook> make_commit_hook(OffloadMode mode) {
  if (mode == OffloadMode::kNone) return std::make_unique<nftables::AcceptAllHook>();
  return std::make_unique<OffloadHook>(std::make_unique<codegen::kernel::LinuxKernel>());
}

std::unique_ptr<nfnl::NetlinkProtocol> make_offload_protocol(OffloadMode mode) {
  // Ask the kernel what it lacks now, at start, rather than on the first rule (~0.1 s).
  nftables::kernel_caps();
  return nftables::make_nftables_protocol(make_commit_hook(mode));
}

}  // namespace nfbpf::offload

namespace nfbpf::offload {

OffloadBackend make_offload_backend(OffloadMode mode) {
  nftables::kernel_caps();
  if (mode == OffloadMode::kNone) {
    return {nftables::make_nftables_protocol(std::make_unique<nftables::AcceptAllHook>()),
            [] { return to_json(OffloadStatus{.mode = "none"}).dump(); }};
  }
  auto hook = std::make_unique<OffloadHook>(std::make_unique<codegen::kernel::LinuxKernel>());
  const OffloadHook* raw = hook.get();  // owned by the protocol from here on
  return {nftables::make_nftables_protocol(std::move(hook)), [raw] { return to_json(raw->status()).dump(); }};
}

}  // namespace nfbpf::offload
