// Matches on IP header fields: length (xt_length.c), ttl (ipt_ttl.c), hl (ip6t_hl.c), dscp
// (xt_dscp.c).
#include <netinet/in.h>
#include <linux/netfilter/xt_dscp.h>
#include <linux/netfilter/xt_length.h>
#include <linux/netfilter_ipv4/ipt_ttl.h>
#include <linux/netfilter_ipv6/ip6t_hl.h>

#include "translate/ipt/extension.h"
#include "translate/ir/build.h"

namespace nfbpf::translate::ipt {

using KF = ir::KnownField;
namespace b = ir::build;

// IPv4: min <= tot_len <= max. IPv6: min <= payload_len + 40 <= max, i.e. the payload length
// field in [min - 40, max - 40] (clamped; an empty range never holds).
Result<void> lower_length(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_length_info>(x, ctx);
  if (!info) return std::unexpected(info.error());
  uint32_t lo = info->min, hi = info->max;
  KF f = KF::kIp4Length;
  if (ctx.family == ir::Family::kIp6) {
    f = KF::kIp6Length;
    if (hi < 40 || lo > hi) {  // never holds (or always, inverted)
      out.steps.push_back(b::masked(f, {0, 0}, info->invert ? ir::Op::kEq : ir::Op::kNe, {0, 0}));
      return {};
    }
    lo = lo < 40 ? 0 : lo - 40;
    hi -= 40;
  }
  if (lo == hi)
    out.steps.push_back(b::cmp(f, info->invert ? ir::Op::kNe : ir::Op::kEq, b::be16(static_cast<uint16_t>(lo))));
  else
    out.steps.push_back(b::range(f, b::be16(static_cast<uint16_t>(lo)), b::be16(static_cast<uint16_t>(hi)), info->invert));
  return {};
}

namespace {
Result<void> ttl_like(KF f, uint8_t mode, uint8_t value, EntryOut& out, const EntryContext& ctx, std::string_view name) {
  ir::Op op;
  switch (mode) {
    case IPT_TTL_EQ: op = ir::Op::kEq; break;
    case IPT_TTL_NE: op = ir::Op::kNe; break;
    case IPT_TTL_LT: op = ir::Op::kLt; break;
    case IPT_TTL_GT: op = ir::Op::kGt; break;
    default: return failf(EINVAL, "{}: mode {} ({})", name, mode, ctx.where());
  }
  out.steps.push_back(b::cmp(f, op, b::u8(value)));
  return {};
}
static_assert(int{IPT_TTL_EQ} == int{IP6T_HL_EQ} && int{IPT_TTL_NE} == int{IP6T_HL_NE} && int{IPT_TTL_LT} == int{IP6T_HL_LT} &&
              int{IPT_TTL_GT} == int{IP6T_HL_GT});
}  // namespace

Result<void> lower_ttl(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<ipt_ttl_info>(x, ctx);
  if (!info) return std::unexpected(info.error());
  return ttl_like(KF::kIp4Ttl, info->mode, info->ttl, out, ctx, "ttl");
}

Result<void> lower_hl(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<ip6t_hl_info>(x, ctx);
  if (!info) return std::unexpected(info.error());
  return ttl_like(KF::kIp6HopLimit, info->mode, info->hop_limit, out, ctx, "hl");
}

// (dsfield >> 2) == dscp, xor invert: the top 6 bits of the TOS byte / traffic class.
Result<void> lower_dscp(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_dscp_info>(x, ctx);
  if (!info) return std::unexpected(info.error());
  const ir::Op op = info->invert ? ir::Op::kNe : ir::Op::kEq;
  if (ctx.family == ir::Family::kIp6)
    out.steps.push_back(b::masked(KF::kIp6Dscp, b::be16(0x0fc0), op, b::be16(static_cast<uint16_t>((info->dscp & 0x3f) << 6))));
  else
    out.steps.push_back(b::masked(KF::kIp4Dscp, {0xfc}, op, {static_cast<uint8_t>((info->dscp & 0x3f) << 2)}));
  return {};
}

}  // namespace nfbpf::translate::ipt
