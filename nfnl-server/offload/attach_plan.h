#pragma once
// Where each base chain of a lowered ruleset runs, decided before anything is loaded so that
// every refusal (nat chains, unknown devices) is a batch error and nothing is half-applied.
//
//   ip / ip6 base chains      -> one netfilter link at (pf, hook, priority)
//   inet base chains          -> the same program at (IPv4, hook, priority) and (IPv6, ...)
//   netdev ingress / egress   -> TCX ingress / egress on each of the chain's devices
//
// Pure: devices are resolved through a callback, so the plan is unit-testable without a kernel.

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codegen/flavor/attach.h"
#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::offload {

// One kernel attach point; the unit of the dispatcher map (one dispatcher each).
struct AttachKey {
  codegen::flavor::Flavor flavor = codegen::flavor::Flavor::kNetfilter;
  uint32_t pf = 0;        // netfilter: NFPROTO_IPV4 / NFPROTO_IPV6
  uint32_t hooknum = 0;   // netfilter: NF_INET_*
  int32_t priority = 0;   // netfilter
  int ifindex = 0;        // TCX
  friend auto operator<=>(const AttachKey&, const AttachKey&) = default;

  codegen::flavor::AttachPoint point() const;
  std::string describe() const;  // "netfilter ipv4 input priority 0", "tcx ingress ifindex 3"
};

struct ChainPlan {
  size_t table = 0;     // index into ir::Ruleset::tables
  std::string chain;    // base chain name
  int32_t priority = 0; // the base chain's
  codegen::flavor::Flavor flavor = codegen::flavor::Flavor::kNetfilter;
  std::vector<AttachKey> at;  // where the (single) compiled program is installed
  std::string where;          // "ip filter input", for messages
};

// Returns the interface index of a device name in the daemon's namespace, or an error.
using DeviceResolver = std::function<Result<int>(const std::string&)>;
Result<int> resolve_device_in_current_netns(const std::string& name);

// Skips dormant tables. EOPNOTSUPP: nat chains, an inet and a netdev ingress chain on one device;
// ENODEV: a netdev (or inet ingress) chain's device does not exist. inet ingress chains run on
// TCX ingress like netdev ones. Several chains may share an attach point (see plan_hooks).
Result<std::vector<ChainPlan>> plan_attachments(const ir::Ruleset& rs, const DeviceResolver& devices);

// The base chains that run at one attach point, in the order the kernel runs them: lower
// priority first, and at equal priority the most recently registered first (nf_hook_entries_grow
// in net/netfilter/core.c inserts a new hook before the first existing one whose priority is not
// lower). ip and inet chains at one hook and priority share the IPv4 point, ip6 and inet the IPv6
// one. `chains` are indices into the plan.
struct HookPlan {
  AttachKey at;
  std::vector<size_t> chains;
};
// `registered(i)`: when plan[i]'s hook was registered (larger = later).
std::vector<HookPlan> plan_hooks(const std::vector<ChainPlan>& plan, const std::function<uint64_t(size_t)>& registered);

}  // namespace nfbpf::offload
