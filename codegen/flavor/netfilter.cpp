// BPF_PROG_TYPE_NETFILTER: ctx is struct bpf_nf_ctx; the packet is ctx->skb and dynptr offset 0 is
// the IP header on every NF_INET hook. Only NF_DROP (0) and NF_ACCEPT (1) are allowed returns.
#include <linux/netfilter.h>

#include "codegen/abi/netfilter.h"
#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {
namespace {

using emit::Reg;

void init(emit::Program& p, emit::Label& fail) {
  p.mov(emit::kCtx, Reg::R1);
  // bpf_dynptr_from_skb((struct __sk_buff *)ctx->skb, 0, &dynptr): the verifier accepts the
  // trusted sk_buff pointer where the kfunc's prototype says __sk_buff.
  p.ldx(emit::Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxSkbOff);
  p.mov(Reg::R2, 0);
  p.mov(Reg::R3, emit::kFrame);
  p.alu(emit::AluOp::kAdd, Reg::R3, emit::kDynptrOff);
  p.call_kfunc(emit::Kfunc::kDynptrFromSkb);
  p.jmp32(emit::Cond::kNe, Reg::R0, 0, fail);
  emit_store_l3_len(p, 0, fail);
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
    .emit_packet_init = init,
};

}  // namespace nfbpf::codegen::flavor
