// BPF_PROG_TYPE_NETFILTER: ctx is struct bpf_nf_ctx; the packet is ctx->skb, whose data starts at
// the IP header on every NF_INET hook. Only NF_DROP (0) and NF_ACCEPT (1) are allowed returns.
//
// Packet access is PacketMode::kSkbDirect: ctx->skb is a trusted BTF pointer, skb->data reads as
// read-only untrusted memory (fault-safe loads, no verifier bounds), so emit_slice checks the
// offset against the linear head length (len - data_len) itself and falls back to a dynptr slice
// for non-linear data. bpf_dynptr_from_skb costs ~35 ns per call here; the direct path none.
#include <linux/netfilter.h>

#include "codegen/abi/netfilter.h"
#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {
namespace {

using emit::Reg;

void init(emit::Program& p, emit::Label& /*fail: every skb has a readable head*/) {
  using emit::KernelField;
  using emit::Size;
  p.mov(emit::kCtx, Reg::R1);
  p.ldx(Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxSkbOff);
  p.stx(Size::kDW, emit::kFrame, emit::kPktSrcOff, Reg::R1);
  p.ldx_field(Size::kW, Reg::R2, Reg::R1, KernelField::kSkbLen);
  p.stx(Size::kDW, emit::kFrame, emit::kPktLenOff, Reg::R2);
  p.ldx_field(Size::kW, Reg::R3, Reg::R1, KernelField::kSkbDataLen);
  p.alu(emit::AluOp::kSub, Reg::R2, Reg::R3);  // head length; data_len <= len always
  p.stx(Size::kDW, emit::kFrame, emit::kHeadLenOff, Reg::R2);
  p.ldx_field(Size::kDW, Reg::R2, Reg::R1, KernelField::kSkbData);
  p.stx(Size::kDW, emit::kFrame, emit::kDataOff, Reg::R2);
}

}  // namespace

const FlavorOps kNetfilterOps = {
    .flavor = Flavor::kNetfilter,
    .name = "netfilter",
    .prog_type = BPF_PROG_TYPE_NETFILTER,
    .expected_attach_type = BPF_NETFILTER,
    .attach_type = BPF_NETFILTER,
    .l3_offset = 0,
    .accept = NF_ACCEPT,
    .drop = NF_DROP,
    .packet_mode = PacketMode::kSkbDirect,
    .dynptr_ctor = emit::Kfunc::kDynptrFromSkb,
    .emit_packet_init = init,
};

}  // namespace nfbpf::codegen::flavor
