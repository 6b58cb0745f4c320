// multiport rev 1 (xt_multiport.c ports_match_v1): up to 15 ports or ranges, on the source, the
// destination or either port. The port list becomes an anonymous interval set; "either" is a
// concatenated (sport . dport) set holding {list . any} and {any . list}, so the rule stays one
// conjunction of matches (and keeps one counter).
#include <linux/netfilter/xt_multiport.h>

#include <fmt/format.h>

#include "translate/ipt/extension.h"

namespace nfbpf::translate::ipt {

Result<void> lower_multiport(const ExtensionData& x, EntryOut& out, const EntryContext& ctx) {
  if (x.revision != 1)
    return failf(EOPNOTSUPP, "multiport revision {}: only revision 1 is supported ({})", x.revision, ctx.where());
  auto info = data_as<xt_multiport_v1>(x, ctx);
  if (!info) return std::unexpected(info.error());
  if (info->count > XT_MULTI_PORTS) return failf(EINVAL, "multiport: {} ports ({})", info->count, ctx.where());
  // The kernel reads the two port fields (4 bytes) and refuses non-first fragments.
  const ir::Proto p = ctx.proto();
  out.steps.push_back(util::l4_header_present(4, p, ctx));

  std::vector<std::pair<uint16_t, uint16_t>> ranges;
  for (unsigned i = 0; i < info->count; ++i) {
    uint16_t lo = info->ports[i], hi = lo;
    if (info->pflags[i] && i + 1 < info->count) hi = info->ports[++i];
    if (lo <= hi) ranges.emplace_back(lo, hi);  // the kernel never matches an inverted range
  }
  auto be = [](uint16_t v) { return ir::Bytes{static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; };
  ir::Set set{.name = fmt::format("__ipt_multiport{}", out.table_sets.size()),
              .flags = ir::kSetAnonymous | ir::kSetConstant | ir::kSetInterval};
  const ir::Field sport = util::transport_field(0, 2, p, ctx), dport = util::transport_field(2, 2, p, ctx);
  std::vector<ir::Field> key;
  if (info->flags == XT_MULTIPORT_EITHER && info->invert) {
    // Neither port in the list: two tests on one plain interval set.
    set.key_parts = {2};
    set.key_len = 2;
    for (auto [lo, hi] : ranges) set.elements.push_back({.key = be(lo), .key_end = be(hi)});
    out.steps.push_back(ir::Match{.key = {sport}, .op = ir::Op::kNotInSet, .set = set.name});
    out.steps.push_back(ir::Match{.key = {dport}, .op = ir::Op::kNotInSet, .set = set.name});
    out.table_sets.push_back(std::move(set));
    return {};
  }
  if (info->flags == XT_MULTIPORT_EITHER) {
    set.flags |= ir::kSetConcat;
    set.key_parts = {2, 2};
    set.key_len = 8;
    key = {sport, dport};
    auto cat = [&](uint16_t s, uint16_t d) {
      ir::Bytes k = be(s);
      k.insert(k.end(), {0, 0});
      ir::Bytes dd = be(d);
      k.insert(k.end(), dd.begin(), dd.end());
      k.insert(k.end(), {0, 0});
      return k;
    };
    for (auto [lo, hi] : ranges) set.elements.push_back({.key = cat(lo, 0), .key_end = cat(hi, 0xffff)});
    for (auto [lo, hi] : ranges) set.elements.push_back({.key = cat(0, lo), .key_end = cat(0xffff, hi)});
  } else if (info->flags == XT_MULTIPORT_SOURCE || info->flags == XT_MULTIPORT_DESTINATION) {
    set.key_parts = {2};
    set.key_len = 2;
    key = {info->flags == XT_MULTIPORT_SOURCE ? sport : dport};
    for (auto [lo, hi] : ranges) set.elements.push_back({.key = be(lo), .key_end = be(hi)});
  } else {
    return failf(EINVAL, "multiport: flags {} ({})", info->flags, ctx.where());
  }
  out.steps.push_back(ir::Match{.key = key, .op = info->invert ? ir::Op::kNotInSet : ir::Op::kInSet, .set = set.name});
  out.table_sets.push_back(std::move(set));
  return {};
}

}  // namespace nfbpf::translate::ipt
