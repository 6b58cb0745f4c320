// limit (xt_limit.c): a token bucket of `burst` packets refilled at one packet per avg/10000 s.
// ir::Limit is nft's bucket with the same meaning (rate per unit, burst packets up front).
#include <linux/netfilter/xt_limit.h>

#include "translate/ipt/extension.h"

namespace nfbpf::translate::ipt {

Result<void> lower_limit(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_rateinfo>(x, ctx);
  if (!info) return std::unexpected(info.error());
  if (info->avg == 0 || info->burst == 0) return failf(EINVAL, "limit: zero rate or burst ({})", ctx.where());
  // iptables writes avg = XT_LIMIT_SCALE * unit / rate for --limit rate/unit: find that unit.
  for (uint64_t unit : {1ull, 60ull, 3600ull, 86400ull}) {
    const uint64_t scaled = unit * XT_LIMIT_SCALE;
    if (scaled % info->avg == 0) {
      out.steps.push_back(ir::Limit{.rate = scaled / info->avg, .unit_seconds = unit, .burst = info->burst});
      return {};
    }
  }
  return failf(EOPNOTSUPP, "limit: an average interval of {}/{} s is no whole rate per second, minute, hour or day ({})",
               info->avg, XT_LIMIT_SCALE, ctx.where());
}

}  // namespace nfbpf::translate::ipt
