// Non-terminating targets nfbpf can express: MARK (xt_mark.c mark_tg, revision 2) and LOG
// (xt_LOG.c). Both return XT_CONTINUE. Codegen decides whether a hook can run them (writing
// skb->mark is refused in BPF netfilter programs, and says so).
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter/xt_mark.h>

#include "translate/ipt/extension.h"

namespace nfbpf::translate::ipt {

// skb->mark = (skb->mark & ~mask) ^ mark, which is ir::SetMark{clear = mask, value = mark}.
Result<void> lower_mark_target(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  if (x.revision != 2) return failf(EOPNOTSUPP, "MARK revision {}: only revision 2 is supported ({})", x.revision, ctx.where());
  auto info = data_as<xt_mark_tginfo2>(x, ctx);
  if (!info) return std::unexpected(info.error());
  out.steps.push_back(ir::SetMark{.clear = info->mask, .value = info->mark});
  return {};
}

Result<void> lower_log_target(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_log_info>(x, ctx);
  if (!info) return std::unexpected(info.error());
  out.steps.push_back(ir::Log{.prefix = std::string(info->prefix, strnlen(info->prefix, sizeof(info->prefix))),
                              .level = info->level, .flags = info->logflags});
  return {};
}

}  // namespace nfbpf::translate::ipt
