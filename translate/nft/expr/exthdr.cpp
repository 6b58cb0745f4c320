// exthdr: load bytes of an IPv6 extension header, a TCP option or an SCTP chunk found by walking
// the packet (net/netfilter/nft_exthdr.c), or only whether it is there (NFT_EXTHDR_F_PRESENT).
// The walk is the field's base (ir::Base::kExtHdr), so the load is an ordinary register load and
// every later expression (cmp, bitwise, lookup) lowers as for payload.
//
// Refused: writes (`tcp option maxseg size set`: NFTA_EXTHDR_SREG) and removals (`reset tcp
// option`: neither register) rewrite the packet, which a BPF netfilter program cannot; IPv4
// options (__ip_options_compile's validation is not modelled yet) and DCCP options.
#include <linux/netfilter/nf_tables.h>

#include "translate/ir/fields.h"
#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

Result<void> lower_exthdr(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  const uint32_t op = nftnl_expr_is_set(e, NFTNL_EXPR_EXTHDR_OP) ? nftnl_expr_get_u32(e, NFTNL_EXPR_EXTHDR_OP)
                                                                 : static_cast<uint32_t>(NFT_EXTHDR_OP_IPV6);
  const uint8_t type = nftnl_expr_get_u8(e, NFTNL_EXPR_EXTHDR_TYPE);
  if (nftnl_expr_is_set(e, NFTNL_EXPR_EXTHDR_SREG))
    return failf(EOPNOTSUPP, "exthdr {} {} set: a BPF netfilter program cannot rewrite packets ({})",
                 op == NFT_EXTHDR_OP_TCPOPT ? "tcp option" : "header", type, ctx.where());
  if (!nftnl_expr_is_set(e, NFTNL_EXPR_EXTHDR_DREG))
    return failf(EOPNOTSUPP, "reset tcp option {}: removing options rewrites packets, which a BPF netfilter program cannot ({})",
                 type, ctx.where());
  ir::ExtHdrOp kind;
  switch (op) {
    case NFT_EXTHDR_OP_IPV6: kind = ir::ExtHdrOp::kIpv6; break;
    case NFT_EXTHDR_OP_TCPOPT: kind = ir::ExtHdrOp::kTcpOpt; break;
    case NFT_EXTHDR_OP_SCTP: kind = ir::ExtHdrOp::kSctp; break;
    case NFT_EXTHDR_OP_IPV4:
      return failf(EOPNOTSUPP, "exthdr: IP option matching (ip option {}) is not supported yet ({})", type, ctx.where());
    case NFT_EXTHDR_OP_DCCP:
      return failf(EOPNOTSUPP, "exthdr: DCCP option matching is not supported yet ({})", ctx.where());
    default:
      return failf(EOPNOTSUPP, "exthdr: unknown op {} ({})", op, ctx.where());
  }
  const uint32_t flags = nftnl_expr_is_set(e, NFTNL_EXPR_EXTHDR_FLAGS) ? nftnl_expr_get_u32(e, NFTNL_EXPR_EXTHDR_FLAGS) : 0;
  if (flags & ~static_cast<uint32_t>(NFT_EXTHDR_F_PRESENT))
    return failf(EINVAL, "exthdr: unknown flags {:#x} ({})", flags, ctx.where());
  const bool present = flags & NFT_EXTHDR_F_PRESENT;
  const uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_EXTHDR_LEN);
  const uint32_t offset = nftnl_expr_get_u32(e, NFTNL_EXPR_EXTHDR_OFFSET);
  if (len == 0 || len > 64 || offset > 255)
    return failf(EOPNOTSUPP, "exthdr: a {}-byte load at offset {} is not supported ({})", len, offset, ctx.where());
  // With F_PRESENT the kernel stores one 32-bit word (nft_reg_store8); nft always asks for 1 byte.
  if (present && len > 4)
    return failf(EOPNOTSUPP, "exthdr: a {}-byte presence load is not supported ({})", len, ctx.where());
  auto dreg = reg_of(e, NFTNL_EXPR_EXTHDR_DREG);
  if (!dreg) return std::unexpected(std::move(dreg).error().with_context("exthdr"));
  ir::Field f{.base = ir::Base::kExtHdr, .offset = offset, .len = len, .key = static_cast<uint8_t>(kind)};
  f.ext_type = type;
  f.ext_present = present;
  b.op(ir::reg::Load{*dreg, f});
  return {};
}

}  // namespace nfbpf::translate::nft::expr
