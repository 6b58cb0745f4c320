// CGROUP_SKB: ctx is struct __sk_buff and skb->data is the IP header (L3). Returns 1 to let the
// packet through and 0 to drop it (bits above are for congestion notification; unused).
#include "codegen/flavor/skb_common.h"

namespace nfbpf::codegen::flavor {
namespace {

void init(emit::Program& p, emit::Label& fail) { emit_skb_ctx_init(p, fail, 0); }

}  // namespace

const FlavorOps kCgroupSkbIngressOps = {
    .flavor = Flavor::kCgroupSkbIngress,
    .name = "cgroup_skb_ingress",
    .prog_type = BPF_PROG_TYPE_CGROUP_SKB,
    .expected_attach_type = BPF_CGROUP_INET_INGRESS,
    .attach_type = BPF_CGROUP_INET_INGRESS,
    .l3_offset = 0,
    .accept = 1,
    .drop = 0,
    .packet_mode = PacketMode::kCtxDirect,
    .dynptr_ctor = emit::Kfunc::kDynptrFromSkb,
    .emit_packet_init = init,
};

const FlavorOps kCgroupSkbEgressOps = {
    .flavor = Flavor::kCgroupSkbEgress,
    .name = "cgroup_skb_egress",
    .prog_type = BPF_PROG_TYPE_CGROUP_SKB,
    .expected_attach_type = BPF_CGROUP_INET_EGRESS,
    .attach_type = BPF_CGROUP_INET_EGRESS,
    .l3_offset = 0,
    .accept = 1,
    .drop = 0,
    .packet_mode = PacketMode::kCtxDirect,
    .dynptr_ctor = emit::Kfunc::kDynptrFromSkb,
    .emit_packet_init = init,
};

}  // namespace nfbpf::codegen::flavor
