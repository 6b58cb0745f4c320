// Matches on packet metadata: comment (nothing to test), mark, pkttype, and mac (refused).
#include <linux/if_packet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_pkttype.h>

#include "translate/ipt/extension.h"
#include "translate/ir/build.h"

namespace nfbpf::translate::ipt {

using KF = ir::KnownField;
namespace b = ir::build;

Result<void> lower_comment(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_comment_info>(x, ctx);
  if (!info) return std::unexpected(info.error());
  out.comment.assign(info->comment, strnlen(info->comment, sizeof(info->comment)));
  return {};
}

// mark_mt: ((skb->mark & mask) == mark) ^ invert. The value is not masked, as in the kernel.
Result<void> lower_mark(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  if (x.revision != 1) return failf(EOPNOTSUPP, "mark revision {}: only revision 1 is supported ({})", x.revision, ctx.where());
  auto info = data_as<xt_mark_mtinfo1>(x, ctx);
  if (!info) return std::unexpected(info.error());
  out.steps.push_back(b::masked(KF::kMetaMark, b::host32(info->mask), info->invert ? ir::Op::kNe : ir::Op::kEq, b::host32(info->mark)));
  return {};
}

// pkttype_mt: skb->pkt_type, with loopback packets resolved to multicast/broadcast by the
// destination address, as nft's meta pkttype does (for IPv6 loopback the kernel's xt_pkttype says
// broadcast for a non-ff00::/8 destination where nft says multicast).
Result<void> lower_pkttype(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_pkttype_info>(x, ctx);
  if (!info) return std::unexpected(info.error());
  if (info->pkttype < 0 || info->pkttype > 255) return failf(EINVAL, "pkttype {} ({})", info->pkttype, ctx.where());
  out.steps.push_back(b::cmp(KF::kMetaPktType, info->invert ? ir::Op::kNe : ir::Op::kEq, b::u8(static_cast<uint8_t>(info->pkttype))));
  return {};
}

Result<void> lower_mac(const ExtensionData&, EntryOut&, const EntryContext& ctx) {
  return failf(EOPNOTSUPP,
               "mac --mac-source: a BPF netfilter program cannot read the link-layer header at the "
               "prerouting, input or forward hook ({})",
               ctx.where());
}

}  // namespace nfbpf::translate::ipt
