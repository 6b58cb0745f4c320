// XDP: ctx is struct xdp_md; the dynptr (bpf_dynptr_from_xdp) starts at the Ethernet header, so
// the IP header is at 14 (no VLAN handling here: a VLAN-tagged frame needs a matcher-level check).
#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {
namespace {

using emit::Reg;

void init(emit::Program& p, emit::Label& fail) {
  p.mov(emit::kCtx, Reg::R1);
  p.mov(Reg::R2, 0);
  p.mov(Reg::R3, emit::kFrame);
  p.alu(emit::AluOp::kAdd, Reg::R3, emit::kDynptrOff);
  p.call_kfunc(emit::Kfunc::kDynptrFromXdp);
  p.jmp32(emit::Cond::kNe, Reg::R0, 0, fail);
  emit_store_l3_len(p, 14, fail);
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
    .packet_mode = PacketMode::kDynptr,
    .emit_packet_init = init,
};

}  // namespace nfbpf::codegen::flavor
