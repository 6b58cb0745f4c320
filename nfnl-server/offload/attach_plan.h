#pragma once
// Where each base chain of a lowered ruleset runs, decided before anything is loaded so that
// every refusal (nat chains, unknown devices, two chains on one netfilter priority) is a batch
// error and nothing is half-applied.
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
  codegen::flavor::Flavor flavor = codegen::flavor::Flavor::kNetfilter;
  std::vector<AttachKey> at;  // where the (single) compiled program is installed
  std::string where;          // "ip filter input", for messages
};

// Returns the interface index of a device name in the daemon's namespace, or an error.
using DeviceResolver = std::function<Result<int>(const std::string&)>;
Result<int> resolve_device_in_current_netns(const std::string& name);

// Skips dormant tables. EOPNOTSUPP: nat chains, inet ingress chains, two base chains sharing an
// attach point; ENODEV: a netdev chain's device does not exist.
Result<std::vector<ChainPlan>> plan_attachments(const ir::Ruleset& rs, const DeviceResolver& devices);

}  // namespace nfbpf::offload
