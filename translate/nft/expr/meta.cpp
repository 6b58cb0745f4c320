// meta: load packet metadata, or (with a source register) set it. Only loads of keys BPF can
// read, and setting the mark, have a lowering; the rest are refused by name.
#include <linux/netfilter/nf_tables.h>

#include <array>
#include <optional>

#include "translate/ir/fields.h"
#include "translate/nft/expr/expr.h"

namespace nfbpf::translate::nft::expr {

namespace {

struct MetaInfo {
  uint32_t nft_key;
  std::optional<ir::MetaKey> key;  // nullopt: nfbpf cannot read it
  uint32_t len;                    // bytes, as nft_meta_get_init() sets them
  bool host_order;
  std::string_view name;
};

constexpr std::array kMeta = {
    MetaInfo{NFT_META_LEN, ir::MetaKey::kLen, 4, true, "length"},
    MetaInfo{NFT_META_PROTOCOL, ir::MetaKey::kProtocol, 2, false, "protocol"},
    MetaInfo{NFT_META_PRIORITY, ir::MetaKey::kPriority, 4, true, "priority"},
    MetaInfo{NFT_META_MARK, ir::MetaKey::kMark, 4, true, "mark"},
    MetaInfo{NFT_META_IIF, ir::MetaKey::kIif, 4, true, "iif"},
    MetaInfo{NFT_META_OIF, ir::MetaKey::kOif, 4, true, "oif"},
    MetaInfo{NFT_META_IIFNAME, ir::MetaKey::kIifName, 16, false, "iifname"},
    MetaInfo{NFT_META_OIFNAME, ir::MetaKey::kOifName, 16, false, "oifname"},
    MetaInfo{NFT_META_IIFTYPE, ir::MetaKey::kIifType, 2, true, "iiftype"},
    MetaInfo{NFT_META_OIFTYPE, ir::MetaKey::kOifType, 2, true, "oiftype"},
    MetaInfo{NFT_META_SKUID, ir::MetaKey::kSkUid, 4, true, "skuid"},
    MetaInfo{NFT_META_SKGID, ir::MetaKey::kSkGid, 4, true, "skgid"},
    MetaInfo{NFT_META_NFTRACE, std::nullopt, 1, true, "nftrace"},
    MetaInfo{NFT_META_RTCLASSID, ir::MetaKey::kRtClassid, 4, true, "rtclassid"},  // = rt classid
    MetaInfo{NFT_META_SECMARK, std::nullopt, 4, true, "secmark"},
    MetaInfo{NFT_META_NFPROTO, ir::MetaKey::kNfProto, 1, true, "nfproto"},
    MetaInfo{NFT_META_L4PROTO, ir::MetaKey::kL4Proto, 1, true, "l4proto"},
    MetaInfo{NFT_META_BRI_IIFNAME, std::nullopt, 16, false, "ibrname"},
    MetaInfo{NFT_META_BRI_OIFNAME, std::nullopt, 16, false, "obrname"},
    MetaInfo{NFT_META_PKTTYPE, ir::MetaKey::kPktType, 1, true, "pkttype"},
    MetaInfo{NFT_META_CPU, ir::MetaKey::kCpu, 4, true, "cpu"},
    MetaInfo{NFT_META_IIFGROUP, ir::MetaKey::kIifGroup, 4, true, "iifgroup"},
    MetaInfo{NFT_META_OIFGROUP, ir::MetaKey::kOifGroup, 4, true, "oifgroup"},
    MetaInfo{NFT_META_CGROUP, ir::MetaKey::kCgroup, 4, true, "cgroup"},
    MetaInfo{NFT_META_PRANDOM, ir::MetaKey::kRandom, 4, false, "random"},  // nft: big-endian type, raw bytes compared
    MetaInfo{NFT_META_SECPATH, ir::MetaKey::kSecPath, 1, true, "ipsec"},
    MetaInfo{NFT_META_IIFKIND, ir::MetaKey::kIifKind, 16, false, "iifkind"},
    MetaInfo{NFT_META_OIFKIND, ir::MetaKey::kOifKind, 16, false, "oifkind"},
    MetaInfo{NFT_META_BRI_IIFPVID, std::nullopt, 2, true, "ibrpvid"},
    MetaInfo{NFT_META_BRI_IIFVPROTO, std::nullopt, 2, true, "ibrvproto"},
    MetaInfo{NFT_META_TIME_NS, ir::MetaKey::kTime, 8, true, "time"},
    MetaInfo{NFT_META_TIME_DAY, ir::MetaKey::kDay, 1, true, "day"},
    MetaInfo{NFT_META_TIME_HOUR, ir::MetaKey::kHour, 4, true, "hour"},
    MetaInfo{NFT_META_SDIF, std::nullopt, 4, true, "sdif"},
    MetaInfo{NFT_META_SDIFNAME, std::nullopt, 16, false, "sdifname"},
    MetaInfo{NFT_META_BRI_BROUTE, std::nullopt, 1, true, "broute"},
};

constexpr bool in_key_order() {
  for (size_t i = 0; i < kMeta.size(); ++i)
    if (kMeta[i].nft_key != i) return false;
  return true;
}
static_assert(in_key_order() && kMeta.size() == NFT_META_BRI_BROUTE + 1, "kMeta follows enum nft_meta_keys");

}  // namespace

Result<void> lower_meta(const nftnl_expr* e, RuleBuilder& b, const LowerContext& ctx) {
  const uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);
  if (key >= kMeta.size()) return failf(EOPNOTSUPP, "meta: unknown key {} ({})", key, ctx.where());
  const MetaInfo& info = kMeta[key];
  if (nftnl_expr_is_set(e, NFTNL_EXPR_META_SREG)) {
    // Setting metadata: the mark is the only key with a meaning nfbpf can carry; whether the hook
    // lets a program write it is codegen's call (netfilter programs cannot).
    if (key != NFT_META_MARK)
      return failf(EOPNOTSUPP, "meta {} set: not supported ({})", info.name, ctx.where());
    auto sreg = reg_of(e, NFTNL_EXPR_META_SREG);
    if (!sreg) return std::unexpected(std::move(sreg).error().with_context("meta set"));
    b.op(ir::reg::SetMeta{ir::MetaKey::kMark, *sreg});
    return {};
  }
  if (!info.key) return failf(EOPNOTSUPP, "meta {}: not supported ({})", info.name, ctx.where());
  auto dreg = reg_of(e, NFTNL_EXPR_META_DREG);
  if (!dreg) return std::unexpected(std::move(dreg).error().with_context("meta"));
  ir::Field f{.base = ir::Base::kMeta, .len = info.len, .key = static_cast<uint8_t>(*info.key),
              .host_order = info.host_order};
  b.op(ir::reg::Load{*dreg, f});
  return {};
}

}  // namespace nfbpf::translate::nft::expr
