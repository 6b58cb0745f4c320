#include "nfnl-server/nftables/kernel_caps.h"

#include <cstdlib>
#include <mutex>

#include "common/log.h"
#include "nfnl-server/nftables/kernel_probe.h"

namespace nfbpf::nftables {
namespace {

std::once_flag g_once;
KernelCaps g_caps;  // written once under g_once (or by set_kernel_caps before serving)

void probe_once() {
  // NFBPF_NO_KERNEL_PROBE=1: refuse nothing on the kernel's behalf (e.g. a fuzzer that must
  // not create namespaces).
  if (const char* off = std::getenv("NFBPF_NO_KERNEL_PROBE"); off && *off && *off != '0') return;
  auto caps = probe_kernel(default_probe_request());
  if (!caps) {
    log::warn("kernel capability probe failed ({}); expressions and objects are not checked "
              "against this kernel",
              caps.error().describe());
    return;
  }
  std::string missing;
  for (const auto& [family, name] : caps->missing_exprs)
    missing += fmt::format(" {}/{}", family, name);
  for (const auto& [family, type] : caps->missing_objects)
    missing += fmt::format(" {}/obj{}", family, type);
  for (uint8_t family : caps->unsupported_families) missing += fmt::format(" {}/tables", family);
  for (uint8_t family : caps->missing_flowtables) missing += fmt::format(" {}/flowtable", family);
  log::info("kernel capability probe: missing (family/kind):{}; {}+{} (family, meta get/set key) "
            "pairs refused{}",
            missing.empty() ? " none" : missing, caps->meta_get_errors.size(), caps->meta_set_errors.size(),
            caps->secmark_unresolvable ? "; secmark contexts unresolvable" : "");
  g_caps = std::move(*caps);
}

}  // namespace

const KernelCaps& kernel_caps() {
  std::call_once(g_once, probe_once);
  return g_caps;
}

void set_kernel_caps(KernelCaps caps) {
  std::call_once(g_once, [] {});  // an explicit answer replaces probing
  g_caps = std::move(caps);
}

}  // namespace nfbpf::nftables
