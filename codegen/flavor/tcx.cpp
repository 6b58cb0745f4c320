// TCX (SCHED_CLS attached with BPF_TCX_INGRESS/EGRESS links): ctx is struct __sk_buff and
// skb->data is the Ethernet header on both directions, so the IP header is at 14.
#include "codegen/flavor/skb_common.h"

namespace nfbpf::codegen::flavor {
namespace {

void init(emit::Program& p, emit::Label& fail) { emit_skb_ctx_init(p, fail, 14); }

}  // namespace

const FlavorOps kTcxIngressOps =
    skb_flavor_ops(Flavor::kTcxIngress, "tcx_ingress", BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS, 14, TCX_PASS, TCX_DROP, init);

const FlavorOps kTcxEgressOps =
    skb_flavor_ops(Flavor::kTcxEgress, "tcx_egress", BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS, 14, TCX_PASS, TCX_DROP, init);

}  // namespace nfbpf::codegen::flavor
