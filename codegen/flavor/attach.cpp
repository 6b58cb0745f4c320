#include "codegen/flavor/attach.h"

#include <linux/netfilter.h>

#include <climits>

namespace nfbpf::codegen::flavor {

AttachPoint AttachPoint::netfilter_hook(uint32_t pf, uint32_t hooknum, int32_t priority, uint32_t flags) {
  AttachPoint a;
  a.flavor = Flavor::kNetfilter;
  a.netfilter = {pf, hooknum, priority, flags};
  return a;
}

AttachPoint AttachPoint::xdp(int ifindex, uint32_t xdp_flags) {
  AttachPoint a;
  a.flavor = Flavor::kXdp;
  a.ifindex = ifindex;
  a.xdp_flags = xdp_flags;
  return a;
}

AttachPoint AttachPoint::tcx(Flavor f, int ifindex) {
  AttachPoint a;
  a.flavor = f;
  a.ifindex = ifindex;
  return a;
}

AttachPoint AttachPoint::cgroup(Flavor f, int cgroup_fd) {
  AttachPoint a;
  a.flavor = f;
  a.cgroup_fd = cgroup_fd;
  return a;
}

Result<kernel::LinkSpec> link_spec(const AttachPoint& at) {
  const FlavorOps& ops = flavor_ops(at.flavor);
  kernel::LinkSpec s;
  s.attach_type = ops.attach_type;
  switch (at.flavor) {
    case Flavor::kNetfilter: {
      const auto& nf = at.netfilter;
      if (nf.pf != NFPROTO_IPV4 && nf.pf != NFPROTO_IPV6)
        return failf(EAFNOSUPPORT, "netfilter BPF links support only IPv4 and IPv6 (pf {})", nf.pf);
      if (nf.hooknum >= NF_INET_NUMHOOKS)
        return failf(EINVAL, "netfilter hook {} is not an NF_INET hook", nf.hooknum);
      if (nf.priority == INT_MIN || nf.priority == INT_MAX)
        return failf(ERANGE, "netfilter priority {} is reserved", nf.priority);
      if ((nf.flags & BPF_F_NETFILTER_IP_DEFRAG) && nf.priority <= -400)
        return failf(ERANGE, "with IP defragmentation the priority must be above -400 (got {})", nf.priority);
      s.target = 0;
      s.netfilter = nf;
      break;
    }
    case Flavor::kXdp:
    case Flavor::kTcxIngress:
    case Flavor::kTcxEgress:
      if (at.ifindex <= 0) return failf(EINVAL, "{} needs an interface index", ops.name);
      s.target = at.ifindex;
      if (at.flavor == Flavor::kXdp) s.flags = at.xdp_flags;
      break;
    case Flavor::kCgroupSkbIngress:
    case Flavor::kCgroupSkbEgress:
      if (at.cgroup_fd < 0) return failf(EBADF, "{} needs a cgroup fd", ops.name);
      s.target = at.cgroup_fd;
      break;
    case Flavor::kCount:
      return fail(EINVAL, "no such flavor");
  }
  return s;
}

}  // namespace nfbpf::codegen::flavor
