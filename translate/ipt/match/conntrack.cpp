// state (xt_state.c) and conntrack (xt_conntrack.c): the conntrack state bits are nft's ct state
// bits (invalid 1, established 2, related 4, new 8, untracked 64), except conntrack's untracked
// bit (256), which is renumbered; its SNAT/DNAT pseudo-states are refused.
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_state.h>

#include "translate/ipt/extension.h"
#include "translate/ir/build.h"

namespace nfbpf::translate::ipt {

using KF = ir::KnownField;
namespace b = ir::build;

namespace {

ir::Match state_test(uint32_t mask, bool invert) {
  return b::masked(KF::kCtState, b::host32(mask), invert ? ir::Op::kEq : ir::Op::kNe, b::host32(0));
}

struct Common {
  uint16_t match_flags, invert_flags, state_mask, status_mask;
};

template <typename T>
Common common_of(const T& i) {
  return {i.match_flags, i.invert_flags, i.state_mask, i.status_mask};
}

}  // namespace

Result<void> lower_state(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_state_info>(x, ctx);
  if (!info) return std::unexpected(info.error());
  out.steps.push_back(state_test(info->statemask, false));
  return {};
}

Result<void> lower_conntrack(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  Common c{};
  switch (x.revision) {
    case 1: {
      auto i = data_as<xt_conntrack_mtinfo1>(x, ctx);
      if (!i) return std::unexpected(i.error());
      c = common_of(*i);
      break;
    }
    case 2: {
      auto i = data_as<xt_conntrack_mtinfo2>(x, ctx);
      if (!i) return std::unexpected(i.error());
      c = common_of(*i);
      break;
    }
    case 3: {
      auto i = data_as<xt_conntrack_mtinfo3>(x, ctx);
      if (!i) return std::unexpected(i.error());
      c = common_of(*i);
      break;
    }
    default:
      return failf(EOPNOTSUPP, "conntrack revision {} is not supported ({})", x.revision, ctx.where());
  }
  constexpr uint16_t kSupported = XT_CONNTRACK_STATE | XT_CONNTRACK_STATUS | XT_CONNTRACK_DIRECTION | XT_CONNTRACK_STATE_ALIAS;
  if (c.match_flags & ~kSupported)
    return failf(EOPNOTSUPP,
                 "conntrack: only --ctstate, --ctstatus and --ctdir are supported (flags {:#x}) ({})",
                 c.match_flags, ctx.where());
  // conntrack_mt returns "match" for a packet without an entry as soon as --ctstate passed,
  // skipping --ctstatus/--ctdir, where nft's ct status/direction would not hold: refuse the mix.
  if ((c.match_flags & XT_CONNTRACK_STATE) && (c.match_flags & (XT_CONNTRACK_STATUS | XT_CONNTRACK_DIRECTION)))
    return failf(EOPNOTSUPP, "conntrack: --ctstate together with --ctstatus or --ctdir is not supported ({})", ctx.where());
  if (c.match_flags & XT_CONNTRACK_STATE) {
    if (c.state_mask & (XT_CONNTRACK_STATE_SNAT | XT_CONNTRACK_STATE_DNAT))
      return failf(EOPNOTSUPP, "conntrack --ctstate SNAT/DNAT: NAT states are not supported ({})", ctx.where());
    uint32_t mask = c.state_mask & 0x1f;
    if (c.state_mask & XT_CONNTRACK_STATE_UNTRACKED) mask |= 1u << 6;  // nft's untracked bit
    out.steps.push_back(state_test(mask, c.invert_flags & XT_CONNTRACK_STATE));
  }
  if (c.match_flags & XT_CONNTRACK_STATUS)
    out.steps.push_back(b::masked(KF::kCtStatus, b::host32(c.status_mask),
                                  (c.invert_flags & XT_CONNTRACK_STATUS) ? ir::Op::kEq : ir::Op::kNe, b::host32(0)));
  if (c.match_flags & XT_CONNTRACK_DIRECTION) {
    // (direction == ORIGINAL) ^ !invert ends the match: --ctdir ORIGINAL leaves the invert bit
    // clear, --ctdir REPLY sets it.
    const bool want_original = !(c.invert_flags & XT_CONNTRACK_DIRECTION);
    out.steps.push_back(b::eq(KF::kCtDirection, b::u8(want_original ? IP_CT_DIR_ORIGINAL : IP_CT_DIR_REPLY)));
  }
  return {};
}

}  // namespace nfbpf::translate::ipt
