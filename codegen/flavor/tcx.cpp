// TCX (SCHED_CLS attached with BPF_TCX_INGRESS/EGRESS links): ctx is struct __sk_buff and
// skb->data is the Ethernet header on both directions, so the IP header is at 14.
#include "codegen/flavor/skb_common.h"

namespace nfbpf::codegen::flavor {
namespace {

void init(emit::Program& p, emit::Label& fail) { emit_skb_ctx_init(p, fail, 14); }

}  // namespace

const FlavorOps kTcxIngressOps = {
    .flavor = Flavor::kTcxIngress,
    .name = "tcx_ingress",
    .prog_type = BPF_PROG_TYPE_SCHED_CLS,
    .expected_attach_type = BPF_TCX_INGRESS,
    .attach_type = BPF_TCX_INGRESS,
    .l3_offset = 14,
    .accept = TCX_PASS,
    .drop = TCX_DROP,
    .packet_mode = PacketMode::kCtxDirect,
    .dynptr_ctor = emit::Kfunc::kDynptrFromSkb,
    .emit_packet_init = init,
};

const FlavorOps kTcxEgressOps = {
    .flavor = Flavor::kTcxEgress,
    .name = "tcx_egress",
    .prog_type = BPF_PROG_TYPE_SCHED_CLS,
    .expected_attach_type = BPF_TCX_EGRESS,
    .attach_type = BPF_TCX_EGRESS,
    .l3_offset = 14,
    .accept = TCX_PASS,
    .drop = TCX_DROP,
    .packet_mode = PacketMode::kCtxDirect,
    .dynptr_ctor = emit::Kfunc::kDynptrFromSkb,
    .emit_packet_init = init,
};

}  // namespace nfbpf::codegen::flavor
