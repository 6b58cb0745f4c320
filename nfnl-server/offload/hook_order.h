#pragma once
// Hybrid mode: base chains BPF could run that must go to the kernel so that the order in which
// chains run at a hook stays the kernel's (docs/offload.md "Order at a hook (ties)").
//
// Netfilter points (pf, hook, priority; an inet chain is at the IPv4 and the IPv6 point): BPF
// links and kernel base chains share the kernel's per-hook list, where at equal priority the
// hook registered last runs first. The kernel registers a base chain when its NEWCHAIN is
// processed, so the chain created last runs first. A BPF link can neither join a priority a
// kernel chain holds (EBUSY) nor be registered after the kernel chains of the batch it comes
// with (it is attached before the kernel batch), so a BPF-able chain created after a
// kernel-placed chain at the same point goes to the kernel too, and the kernel orders the two
// itself. A BPF chain created before the kernel one needs nothing: the kernel chain registers
// after the link and runs first, as it would without nfbpf.
//
// Netdev points (ingress or egress of one device; inet ingress chains are at the netdev ingress
// point): BPF runs there on TCX, outside the kernel's list, and TCX ingress runs before every
// netfilter ingress hook, TCX egress after every netfilter egress hook. A BPF-able chain the
// kernel would run after a kernel-placed chain (ingress; lower priority first, at equal priority
// the later-created first), or before it (egress), goes to the kernel.
//
// A kernel chain this batch deletes (`leaving`) still holds its netfilter points while the BPF side
// attaches: a BPF-able chain at one of them goes to the kernel too (its own re-creation included).
//
// A chain moved to the kernel is kernel-placed for the chains after it (the rule is applied
// until nothing moves). Pure: the facts come from the store (hybrid_hook.cpp gathers them).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nfbpf::offload {

struct BaseChainHook {
  std::string where;                 // "ip k input", for reasons
  uint8_t family = 0;                // NFPROTO_* of its table
  uint32_t hooknum = 0;
  int32_t priority = 0;
  std::vector<std::string> devices;  // netdev and inet ingress chains
  uint64_t created = 0;              // NEWCHAIN order (store::Chain::created)
  bool kernel = false;               // placed in the kernel (else BPF)
  // A kernel chain of the committed ruleset this batch deletes: it holds its netfilter points
  // until the kernel batch, after the BPF side is attached, so a BPF link cannot join them (EBUSY).
  bool leaving = false;
};

// Indices of BPF-placed chains of `chains` that must run in the kernel, each with the reason.
std::map<size_t, std::string> kernel_for_hook_order(const std::vector<BaseChainHook>& chains);

}  // namespace nfbpf::offload
