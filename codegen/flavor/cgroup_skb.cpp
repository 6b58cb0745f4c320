// CGROUP_SKB: ctx is struct __sk_buff and skb->data is the IP header (L3). Returns 1 to let the
// packet through and 0 to drop it (bits above are for congestion notification; unused).
#include "codegen/flavor/skb_common.h"

namespace nfbpf::codegen::flavor {
namespace {

void init(emit::Program& p, emit::Label& fail) { emit_skb_ctx_init(p, fail, 0); }

}  // namespace

const FlavorOps kCgroupSkbIngressOps = skb_flavor_ops(Flavor::kCgroupSkbIngress, "cgroup_skb_ingress",
                                                      BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS, 0, 1, 0, init);

const FlavorOps kCgroupSkbEgressOps = skb_flavor_ops(Flavor::kCgroupSkbEgress, "cgroup_skb_egress",
                                                     BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, 0, 1, 0, init);

}  // namespace nfbpf::codegen::flavor
