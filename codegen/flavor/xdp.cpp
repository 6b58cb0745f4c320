// XDP: ctx is struct xdp_md; data starts at the Ethernet header, so the IP header is at 14 (no
// VLAN handling here: a VLAN-tagged frame needs a matcher-level check). Slow path (bytes in a
// multi-buffer frame's fragments): bpf_dynptr_from_xdp.
#include <linux/bpf.h>

#include <cstddef>

#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {
namespace {

void init(emit::Program& p, emit::Label& fail) {
  emit_ctx_direct_init(p, fail, 14, offsetof(xdp_md, data), offsetof(xdp_md, data_end), false);
}

}  // namespace

const FlavorOps kXdpOps = {
    .flavor = Flavor::kXdp,
    .name = "xdp",
    .prog_type = BPF_PROG_TYPE_XDP,
    .expected_attach_type = BPF_XDP,
    .attach_type = BPF_XDP,
    .l3_offset = 14,
    .accept = XDP_PASS,
    .drop = XDP_DROP,
    .packet_mode = PacketMode::kCtxDirect,
    .dynptr_ctor = emit::Kfunc::kDynptrFromXdp,
    .emit_packet_init = init,
};

}  // namespace nfbpf::codegen::flavor
