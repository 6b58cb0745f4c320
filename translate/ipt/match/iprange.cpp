// iprange rev 1 (xt_iprange.c iprange_mt4/6): min <= addr <= max, per direction, each invertible.
// Addresses are network order, so the IR's numeric (IPv4) or memcmp (IPv6) order is the kernel's.
#include <netinet/in.h>
#include <linux/netfilter/xt_iprange.h>

#include "translate/ipt/extension.h"
#include "translate/ir/build.h"

namespace nfbpf::translate::ipt {

Result<void> lower_iprange(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  if (x.revision != 1)
    return failf(EOPNOTSUPP, "iprange revision {}: only revision 1 is supported ({})", x.revision, ctx.where());
  auto info = data_as<xt_iprange_mtinfo>(x, ctx);
  if (!info) return std::unexpected(info.error());
  const bool v6 = ctx.family == ir::Family::kIp6;
  const size_t n = v6 ? 16 : 4;
  auto bytes = [&](const nf_inet_addr& a) {
    const auto* p = reinterpret_cast<const uint8_t*>(v6 ? static_cast<const void*>(&a.in6) : static_cast<const void*>(&a.in));
    return ir::Bytes(p, p + n);
  };
  using KF = ir::KnownField;
  auto add = [&](KF f, const nf_inet_addr& lo, const nf_inet_addr& hi, bool inv) {
    out.steps.push_back(ir::build::range(f, bytes(lo), bytes(hi), inv));
  };
  if (info->flags & IPRANGE_SRC)
    add(v6 ? KF::kIp6Saddr : KF::kIp4Saddr, info->src_min, info->src_max, info->flags & IPRANGE_SRC_INV);
  if (info->flags & IPRANGE_DST)
    add(v6 ? KF::kIp6Daddr : KF::kIp4Daddr, info->dst_min, info->dst_max, info->flags & IPRANGE_DST_INV);
  return {};
}

}  // namespace nfbpf::translate::ipt
