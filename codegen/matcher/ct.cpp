// ct state at netfilter hooks, from skb->_nfct as nft_ct_get_eval computes it: with an entry,
// NF_CT_STATE_BIT(ctinfo) = 1 << (ctinfo % IP_CT_IS_REPLY + 1); without one, UNTRACKED (64) when
// ctinfo is IP_CT_UNTRACKED (7), else INVALID (1). Conntrack runs only while some kernel table
// uses it (see NOTES): without it every packet reads as invalid, as it would in nft.
// Every other ct key (and ct at other hooks, where the kfuncs differ) is refused (load.h).
#include "codegen/abi/netfilter.h"
#include "codegen/matcher/load.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::Reg;
using emit::Size;

Result<Loaded> load_ct(EmitCtx& c, const ir::Field& f, emit::Label& fail) {
  (void)fail;
  emit::Program& p = c.p;
  if (!c.skb_nfct_offset) return failf(EOPNOTSUPP, "{}: sk_buff._nfct offset unknown", field_label(f));
  p.ldx(Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxSkbOff);
  p.ldx(Size::kDW, Reg::R1, Reg::R1, static_cast<int16_t>(*c.skb_nfct_offset));
  p.mov(Reg::R2, Reg::R1);
  p.alu(AluOp::kAnd, Reg::R2, -8);  // NFCT_PTRMASK
  p.alu(AluOp::kAnd, Reg::R1, 7);   // NFCT_INFOMASK: ctinfo
  emit::Label tracked(p), done(p);
  p.jmp(Cond::kNe, Reg::R2, 0, tracked);
  {
    auto untracked = p.jmp_fwd(Cond::kEq, Reg::R1, 7);
    p.mov(Reg::R1, 1);
    p.jmp(done);
  }
  p.mov(Reg::R1, 64);
  p.jmp(done);
  p.bind(tracked);
  p.alu(AluOp::kMod, Reg::R1, 3);
  p.alu(AluOp::kAdd, Reg::R1, 1);
  p.mov(Reg::R2, 1);
  p.alu(AluOp::kLsh, Reg::R2, Reg::R1);
  p.mov(Reg::R1, Reg::R2);
  p.bind(done);
  if (f.len != 1 && f.len != 2 && f.len != 4)
    return failf(EOPNOTSUPP, "{}: {}-byte loads are not supported", field_label(f), f.len);
  if (f.len < 4) p.alu(AluOp::kAnd, Reg::R1, static_cast<int32_t>((1u << (8 * f.len)) - 1));
  return Loaded{Loaded::Kind::kReg, f.len};
}

}  // namespace nfbpf::codegen::matcher
