// bitwise (mask/xor and shifts) and byteorder: register-to-register transforms.
#include <linux/netfilter/nf_tables.h>

#include <cstring>

#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

Result<void> lower_bitwise(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  auto sreg = reg_of(e, NFTNL_EXPR_BITWISE_SREG);
  auto dreg = reg_of(e, NFTNL_EXPR_BITWISE_DREG);
  if (!sreg || !dreg) return failf(EINVAL, "bitwise: missing register ({})", ctx.where());
  const uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_LEN);
  const uint32_t op = nftnl_expr_is_set(e, NFTNL_EXPR_BITWISE_OP) ? nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_OP)
                                                                  : uint32_t{NFT_BITWISE_BOOL};
  switch (op) {
    case NFT_BITWISE_BOOL:
      b.op(ir::reg::Bitwise{*sreg, *dreg, len, data_of(e, NFTNL_EXPR_BITWISE_MASK), data_of(e, NFTNL_EXPR_BITWISE_XOR)});
      return {};
    case NFT_BITWISE_LSHIFT:
    case NFT_BITWISE_RSHIFT: {
      ir::Bytes amount = data_of(e, NFTNL_EXPR_BITWISE_DATA);
      if (amount.size() != 4) return failf(EINVAL, "bitwise shift: amount must be 4 bytes ({})", ctx.where());
      uint32_t n;
      std::memcpy(&n, amount.data(), 4);  // NFTA_BITWISE_DATA holds a host-order u32
      b.op(ir::reg::Shift{*sreg, *dreg, len, op == NFT_BITWISE_LSHIFT, n});
      return {};
    }
    default:
      return failf(EOPNOTSUPP, "bitwise: operation {} is not supported ({})", op, ctx.where());
  }
}

Result<void> lower_byteorder(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  auto sreg = reg_of(e, NFTNL_EXPR_BYTEORDER_SREG);
  auto dreg = reg_of(e, NFTNL_EXPR_BYTEORDER_DREG);
  if (!sreg || !dreg) return failf(EINVAL, "byteorder: missing register ({})", ctx.where());
  const uint32_t size = nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_SIZE);
  if (size != 2 && size != 4 && size != 8)
    return failf(EINVAL, "byteorder: size {} must be 2, 4 or 8 ({})", size, ctx.where());
  b.op(ir::reg::ByteOrder{*sreg, *dreg, nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_OP) == NFT_BYTEORDER_HTON,
                          nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_LEN), size});
  return {};
}

}  // namespace nfbpf::translate::nft::expr
