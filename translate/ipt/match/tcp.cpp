// tcp (xt_tcpudp.c tcp_mt): ports, flags; options are refused.
#include <linux/netfilter/xt_tcpudp.h>

#include "translate/ipt/extension.h"
#include "translate/ir/build.h"

namespace nfbpf::translate::ipt {

Result<void> lower_tcp(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_tcp>(x, ctx);
  if (!info) return std::unexpected(info.error());
  if (info->option != 0)
    return failf(EOPNOTSUPP, "tcp --tcp-option {}: TCP option matching is not supported yet ({})", info->option, ctx.where());
  // tcp_mt refuses non-first fragments and headers shorter than struct tcphdr (20 bytes).
  out.steps.push_back(util::l4_header_present(20, ir::Proto::kTcp, ctx));
  if (auto m = util::port_range(util::transport_field(0, 2, ir::Proto::kTcp, ctx), info->spts[0], info->spts[1],
                                info->invflags & XT_TCP_INV_SRCPT))
    out.steps.push_back(*m);
  if (auto m = util::port_range(util::transport_field(2, 2, ir::Proto::kTcp, ctx), info->dpts[0], info->dpts[1],
                                info->invflags & XT_TCP_INV_DSTPT))
    out.steps.push_back(*m);
  const bool inv_flags = info->invflags & XT_TCP_INV_FLAGS;
  if (info->flg_mask != 0 || info->flg_cmp != 0 || inv_flags)
    out.steps.push_back(ir::Match{.key = {util::transport_field(13, 1, ir::Proto::kTcp, ctx)}, .mask = ir::Bytes{info->flg_mask},
                                  .op = inv_flags ? ir::Op::kNe : ir::Op::kEq, .value = ir::Bytes{info->flg_cmp}});
  return {};
}

// udp (udp_mt): ports only. The same match serves udplite (the protocol comes from -p).
Result<void> lower_udp(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  auto info = data_as<xt_udp>(x, ctx);
  if (!info) return std::unexpected(info.error());
  const ir::Proto p = ctx.l4proto == 136 ? ir::Proto::kUdpLite : ir::Proto::kUdp;
  out.steps.push_back(util::l4_header_present(8, p, ctx));
  if (auto m = util::port_range(util::transport_field(0, 2, p, ctx), info->spts[0], info->spts[1], info->invflags & XT_UDP_INV_SRCPT))
    out.steps.push_back(*m);
  if (auto m = util::port_range(util::transport_field(2, 2, p, ctx), info->dpts[0], info->dpts[1], info->invflags & XT_UDP_INV_DSTPT))
    out.steps.push_back(*m);
  return {};
}

}  // namespace nfbpf::translate::ipt
