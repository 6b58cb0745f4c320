#pragma once
// Where to attach a program of a given flavor, validated the way the kernel would (so errors come
// back as the errno the kernel gives: ERANGE for priority INT_MIN/INT_MAX, EAFNOSUPPORT for a pf
// other than IPv4/IPv6, EINVAL for a bad hook, priority <= -400 with IP_DEFRAG).

#include "codegen/flavor/flavor.h"
#include "codegen/kernel/kernel.h"

namespace nfbpf::codegen::flavor {

struct AttachPoint {
  Flavor flavor = Flavor::kNetfilter;
  kernel::NetfilterHook netfilter;  // kNetfilter
  int ifindex = 0;                  // kXdp, kTcx*
  int cgroup_fd = -1;               // kCgroupSkb* (borrowed; the caller keeps it open)
  uint32_t xdp_flags = 0;           // kXdp: XDP_FLAGS_SKB_MODE / DRV_MODE, 0 = kernel's choice

  static AttachPoint netfilter_hook(uint32_t pf, uint32_t hooknum, int32_t priority, uint32_t flags = 0);
  static AttachPoint xdp(int ifindex, uint32_t xdp_flags = 0);
  static AttachPoint tcx(Flavor f, int ifindex);
  static AttachPoint cgroup(Flavor f, int cgroup_fd);
};

Result<kernel::LinkSpec> link_spec(const AttachPoint& at);

}  // namespace nfbpf::codegen::flavor
