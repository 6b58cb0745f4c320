#include "nfnl-server/nftables/expr_codec.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string_view>

#include "nfnl-server/compat/xt_expr.h"
#include "nfnl-server/nftables/kernel_caps.h"
#include "nfnl-server/nftables/policies.h"
#include "nfnl-server/nftables/txn.h"

namespace nfbpf::nftables {
namespace {

// How one attribute of an expression is stored and dumped.
enum class K : uint8_t {
  kRaw,   // copied verbatim
  kReg,   // a register: normalised like nft_dump_register()
  kData,  // NFTA_DATA_* nest (value or verdict)
  kNest,  // opaque nest, copied as a tree
  kExprs, // nested expression(s) (dynset/set EXPR)
  kStr,   // a string the kernel dumps with nla_put_string(): always NUL-terminated
};

struct Field {
  uint16_t type;
  K k = K::kRaw;
  // If set, the kernel always dumps this attribute; `dflt` is used when the request lacks it.
  std::optional<std::vector<uint8_t>> dflt = std::nullopt;
};

std::vector<uint8_t> be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}
std::vector<uint8_t> be64(uint64_t v) {
  std::vector<uint8_t> out(8);
  for (int i = 7; i >= 0; i--, v >>= 8) out[size_t(i)] = uint8_t(v);
  return out;
}

// Derives what ->init() derives and refuses what it refuses (errno as the kernel).
using Fixup = Result<void> (*)(std::vector<store::ExprAttr>&);

struct KindSpec {
  std::vector<Field> fields;  // in the kernel's dump order
  bool dumps_data = true;     // false for kinds without ->dump (notrack)
  Fixup fixup = nullptr;      // state ->init() derives that ->dump() then shows
};

store::ExprAttr* find_attr(std::vector<store::ExprAttr>& v, uint16_t t) {
  for (auto& a : v)
    if (a.type == t) return &a;
  return nullptr;
}

// A missing "max" register defaults to "min" (nat, masq, redir) and is dumped right after it.
bool default_max(std::vector<store::ExprAttr>& v, uint16_t min, uint16_t max) {
  store::ExprAttr* lo = find_attr(v, min);
  if (!lo) {
    std::erase_if(v, [&](const auto& a) { return a.type == max; });
    return false;
  }
  if (!find_attr(v, max)) {
    store::ExprAttr hi = *lo;
    hi.type = max;
    auto pos = std::find_if(v.begin(), v.end(), [&](const auto& a) { return a.type == min; });
    v.insert(pos + 1, std::move(hi));
  }
  return true;
}

// Sets the flags attribute (dumped only when non-zero) at the position `before` says.
void put_flags(std::vector<store::ExprAttr>& v, uint16_t type, uint32_t flags, bool at_front) {
  std::erase_if(v, [&](const auto& a) { return a.type == type; });
  if (!flags) return;
  store::ExprAttr f;
  f.type = type;
  f.payload = be32(flags);
  if (at_front) v.insert(v.begin(), std::move(f));
  else v.push_back(std::move(f));
}

uint32_t flags_of(std::vector<store::ExprAttr>& v, uint16_t type) {
  store::ExprAttr* f = find_attr(v, type);
  return f ? f->be32() : 0;
}

constexpr uint32_t kMapIps = 1;         // NF_NAT_RANGE_MAP_IPS
constexpr uint32_t kProtoSpecified = 2; // NF_NAT_RANGE_PROTO_SPECIFIED

// nft_nat_init(): flags |= MAP_IPS / PROTO_SPECIFIED, then |= the requested flags.
Result<void> fixup_nat(std::vector<store::ExprAttr>& v) {
  uint32_t flags = 0;
  if (default_max(v, NFTA_NAT_REG_ADDR_MIN, NFTA_NAT_REG_ADDR_MAX)) flags |= kMapIps;
  if (default_max(v, NFTA_NAT_REG_PROTO_MIN, NFTA_NAT_REG_PROTO_MAX)) flags |= kProtoSpecified;
  flags |= flags_of(v, NFTA_NAT_FLAGS);
  put_flags(v, NFTA_NAT_FLAGS, flags, false);
  return {};
}

// nft_masq_init(): flags as requested; dumped first.
Result<void> fixup_masq(std::vector<store::ExprAttr>& v) {
  default_max(v, NFTA_MASQ_REG_PROTO_MIN, NFTA_MASQ_REG_PROTO_MAX);
  put_flags(v, NFTA_MASQ_FLAGS, flags_of(v, NFTA_MASQ_FLAGS), true);
  return {};
}

// nft_redir_init(): PROTO_SPECIFIED with a port register, but requested flags replace it.
Result<void> fixup_redir(std::vector<store::ExprAttr>& v) {
  uint32_t flags = 0;
  if (default_max(v, NFTA_REDIR_REG_PROTO_MIN, NFTA_REDIR_REG_PROTO_MAX)) flags = kProtoSpecified;
  if (find_attr(v, NFTA_REDIR_FLAGS)) flags = flags_of(v, NFTA_REDIR_FLAGS);
  put_flags(v, NFTA_REDIR_FLAGS, flags, false);
  return {};
}

// nft_quota_do_dump(): only the INV flag is kept, DEPLETED is reported once consumed >= quota
// (at once for a zero quota: nothing is consumed here).
Result<void> fixup_quota(std::vector<store::ExprAttr>& v) {
  uint32_t flags = flags_of(v, NFTA_QUOTA_FLAGS) & NFT_QUOTA_F_INV;
  store::ExprAttr* bytes = find_attr(v, NFTA_QUOTA_BYTES);
  if (bytes && bytes->be64() == 0) flags |= NFT_QUOTA_F_DEPLETED;
  if (store::ExprAttr* f = find_attr(v, NFTA_QUOTA_FLAGS)) f->payload = be32(flags);
  if (store::ExprAttr* c = find_attr(v, NFTA_QUOTA_CONSUMED)) c->payload = be64(0);
  return {};
}

// Inserts `type` = `value` before the first attribute whose type is greater (keeping the
// spec's order, which follows the attribute numbers for these kinds) if it is missing.
void ensure_attr(std::vector<store::ExprAttr>& v, uint16_t type, std::vector<uint8_t> value,
                 const std::vector<uint16_t>& order) {
  if (find_attr(v, type)) return;
  auto rank = [&](uint16_t t) {
    auto it = std::find(order.begin(), order.end(), t);
    return it == order.end() ? order.size() : size_t(it - order.begin());
  };
  auto pos = std::find_if(v.begin(), v.end(), [&](const auto& a) { return rank(a.type) > rank(type); });
  store::ExprAttr a;
  a.type = type;
  a.payload = std::move(value);
  v.insert(pos, std::move(a));
}

// nft_payload_set_dump(): the write variant always dumps the checksum fields.
Result<void> fixup_payload(std::vector<store::ExprAttr>& v) {
  if (!find_attr(v, NFTA_PAYLOAD_SREG)) return {};
  const std::vector<uint16_t> order = {NFTA_PAYLOAD_SREG,        NFTA_PAYLOAD_BASE,
                                       NFTA_PAYLOAD_OFFSET,      NFTA_PAYLOAD_LEN,
                                       NFTA_PAYLOAD_CSUM_TYPE,   NFTA_PAYLOAD_CSUM_OFFSET,
                                       NFTA_PAYLOAD_CSUM_FLAGS};
  for (uint16_t t : {NFTA_PAYLOAD_CSUM_TYPE, NFTA_PAYLOAD_CSUM_OFFSET, NFTA_PAYLOAD_CSUM_FLAGS})
    ensure_attr(v, t, be32(0), order);
  return {};
}

// nft_limit_init() + nft_limit_dump(): overflow checks, the packet burst default, and FLAGS
// reduced to the invert bit.
Result<void> fixup_limit(std::vector<store::ExprAttr>& v) {
  store::ExprAttr* rate = find_attr(v, NFTA_LIMIT_RATE);
  store::ExprAttr* unit = find_attr(v, NFTA_LIMIT_UNIT);
  if (!rate || !unit || rate->payload.size() < 8 || unit->payload.size() < 8) return fail(EINVAL, "");
  const uint64_t r = rate->be64(), u = unit->be64();
  if (r == 0) return fail(EINVAL, "");
  uint64_t nsecs, rate_with_burst, tokens;
  if (__builtin_mul_overflow(u, uint64_t(1000000000), &nsecs)) return fail(EOVERFLOW, "");
  store::ExprAttr* type = find_attr(v, NFTA_LIMIT_TYPE);
  const uint32_t t = type ? type->be32() : uint32_t(NFT_LIMIT_PKTS);
  if (t != NFT_LIMIT_PKTS && t != NFT_LIMIT_PKT_BYTES) return fail(EOPNOTSUPP, "");
  const bool pkts = t == NFT_LIMIT_PKTS;
  store::ExprAttr* burst = find_attr(v, NFTA_LIMIT_BURST);
  uint32_t b = burst ? burst->be32() : 0;
  if (pkts && b == 0) b = 5;  // NFT_LIMIT_PKT_BURST_DEFAULT
  if (__builtin_add_overflow(r, uint64_t(b), &rate_with_burst)) return fail(EOVERFLOW, "");
  if (pkts) {
    if (__builtin_mul_overflow(nsecs / r, uint64_t(b), &tokens)) return fail(EOVERFLOW, "");
  } else {
    uint64_t tmp;
    if (__builtin_mul_overflow(nsecs, rate_with_burst, &tmp)) return fail(EOVERFLOW, "");
  }
  const uint32_t flags = flags_of(v, NFTA_LIMIT_FLAGS);
  if (flags & ~NFT_LIMIT_F_INV) return fail(EOPNOTSUPP, "");
  if (burst) burst->payload = be32(b);
  if (type) type->payload = be32(t);
  if (store::ExprAttr* f = find_attr(v, NFTA_LIMIT_FLAGS)) f->payload = be32(flags);
  return {};
}

void drop_attr(std::vector<store::ExprAttr>& v, uint16_t type) {
  std::erase_if(v, [&](const auto& a) { return a.type == type; });
}

// nft_reject_dump(): the ICMP code only for the ICMP variants.
Result<void> fixup_reject(std::vector<store::ExprAttr>& v) {
  if (flags_of(v, NFTA_REJECT_TYPE) == NFT_REJECT_TCP_RST) drop_attr(v, NFTA_REJECT_ICMP_CODE);
  return {};
}

// nft_ct_get_dump() / nft_ct_set_dump(): the direction only for keys that use one.
Result<void> fixup_ct(std::vector<store::ExprAttr>& v) {
  const uint32_t key = flags_of(v, NFTA_CT_KEY);
  const bool set = find_attr(v, NFTA_CT_SREG) != nullptr;
  store::ExprAttr* dir = find_attr(v, NFTA_CT_DIRECTION);
  bool keep;
  if (set) {
    keep = key == NFT_CT_ZONE && dir;
  } else {
    switch (key) {
      case NFT_CT_SRC: case NFT_CT_DST: case NFT_CT_SRC_IP: case NFT_CT_DST_IP:
      case NFT_CT_SRC_IP6: case NFT_CT_DST_IP6: case NFT_CT_PROTO_SRC: case NFT_CT_PROTO_DST:
        keep = true;
        if (!dir) {  // priv->dir stays 0 (IP_CT_DIR_ORIGINAL)
          store::ExprAttr d;
          d.type = NFTA_CT_DIRECTION;
          d.payload = {0};
          v.push_back(std::move(d));
        }
        break;
      case NFT_CT_BYTES: case NFT_CT_PKTS: case NFT_CT_AVGPKT: case NFT_CT_ZONE:
        keep = dir != nullptr;
        break;
      default:
        keep = false;
    }
  }
  if (!keep) drop_attr(v, NFTA_CT_DIRECTION);
  return {};
}

// nft_jhash_dump() / nft_symhash_dump(): OFFSET only when non-zero.
Result<void> fixup_hash(std::vector<store::ExprAttr>& v) {
  if (find_attr(v, NFTA_HASH_OFFSET) && flags_of(v, NFTA_HASH_OFFSET) == 0) drop_attr(v, NFTA_HASH_OFFSET);
  return {};
}

// nft_socket_dump(): LEVEL only for the cgroupv2 key.
Result<void> fixup_socket(std::vector<store::ExprAttr>& v) {
  if (flags_of(v, NFTA_SOCKET_KEY) != NFT_SOCKET_CGROUPV2) drop_attr(v, NFTA_SOCKET_LEVEL);
  return {};
}

// nft_osf_dump(): TTL and FLAGS always.
Result<void> fixup_osf(std::vector<store::ExprAttr>& v) {
  const std::vector<uint16_t> order = {NFTA_OSF_TTL, NFTA_OSF_FLAGS, NFTA_OSF_DREG};
  ensure_attr(v, NFTA_OSF_TTL, {0}, order);
  ensure_attr(v, NFTA_OSF_FLAGS, be32(0), order);
  return {};
}

// nft_connlimit_do_dump(): FLAGS only when inverted.
Result<void> fixup_connlimit(std::vector<store::ExprAttr>& v) {
  put_flags(v, NFTA_CONNLIMIT_FLAGS, flags_of(v, NFTA_CONNLIMIT_FLAGS), false);
  return {};
}

// Dump orders from each expression's ->dump() in net/netfilter/nft_*.c.
const std::map<std::string_view, KindSpec>& kinds() {
  static const std::map<std::string_view, KindSpec> m = {
      {"immediate", {{{NFTA_IMMEDIATE_DREG, K::kReg}, {NFTA_IMMEDIATE_DATA, K::kData}}}},
      {"cmp", {{{NFTA_CMP_SREG, K::kReg}, {NFTA_CMP_OP}, {NFTA_CMP_DATA, K::kData}}}},
      {"payload",
       {{{NFTA_PAYLOAD_DREG, K::kReg}, {NFTA_PAYLOAD_SREG, K::kReg}, {NFTA_PAYLOAD_BASE},
         {NFTA_PAYLOAD_OFFSET}, {NFTA_PAYLOAD_LEN}, {NFTA_PAYLOAD_CSUM_TYPE},
         {NFTA_PAYLOAD_CSUM_OFFSET}, {NFTA_PAYLOAD_CSUM_FLAGS}},
        true, fixup_payload}},
      {"meta", {{{NFTA_META_KEY}, {NFTA_META_DREG, K::kReg}, {NFTA_META_SREG, K::kReg}}}},
      {"counter",
       {{{NFTA_COUNTER_BYTES, K::kRaw, be64(0)}, {NFTA_COUNTER_PACKETS, K::kRaw, be64(0)}}}},
      {"bitwise",
       {{{NFTA_BITWISE_SREG, K::kReg}, {NFTA_BITWISE_DREG, K::kReg}, {NFTA_BITWISE_LEN},
         {NFTA_BITWISE_OP, K::kRaw, be32(0)}, {NFTA_BITWISE_MASK, K::kData},
         {NFTA_BITWISE_XOR, K::kData}, {NFTA_BITWISE_DATA, K::kData}}}},
      {"byteorder",
       {{{NFTA_BYTEORDER_SREG, K::kReg}, {NFTA_BYTEORDER_DREG, K::kReg}, {NFTA_BYTEORDER_OP},
         {NFTA_BYTEORDER_LEN}, {NFTA_BYTEORDER_SIZE}}}},
      {"lookup",
       {{{NFTA_LOOKUP_SET, K::kStr}, {NFTA_LOOKUP_SREG, K::kReg}, {NFTA_LOOKUP_DREG, K::kReg},
         {NFTA_LOOKUP_FLAGS, K::kRaw, be32(0)}}}},
      {"range",
       {{{NFTA_RANGE_SREG, K::kReg}, {NFTA_RANGE_OP}, {NFTA_RANGE_FROM_DATA, K::kData},
         {NFTA_RANGE_TO_DATA, K::kData}}}},
      {"ct",
       {{{NFTA_CT_DREG, K::kReg}, {NFTA_CT_SREG, K::kReg}, {NFTA_CT_KEY}, {NFTA_CT_DIRECTION}},
        true, fixup_ct}},
      {"rt", {{{NFTA_RT_KEY}, {NFTA_RT_DREG, K::kReg}}}},
      {"fib", {{{NFTA_FIB_DREG, K::kReg}, {NFTA_FIB_RESULT}, {NFTA_FIB_FLAGS}}}},
      {"exthdr",
       // nft_exthdr_dump_common() always dumps all five (get, set and strip variants).
       {{{NFTA_EXTHDR_DREG, K::kReg}, {NFTA_EXTHDR_SREG, K::kReg},
         {NFTA_EXTHDR_TYPE, K::kRaw, std::vector<uint8_t>{0}},
         {NFTA_EXTHDR_OFFSET, K::kRaw, be32(0)}, {NFTA_EXTHDR_LEN, K::kRaw, be32(0)},
         {NFTA_EXTHDR_FLAGS, K::kRaw, be32(0)},
         {NFTA_EXTHDR_OP, K::kRaw, be32(0)}}}},
      {"reject", {{{NFTA_REJECT_TYPE}, {NFTA_REJECT_ICMP_CODE}}, true, fixup_reject}},
      {"nat",
       {{{NFTA_NAT_TYPE}, {NFTA_NAT_FAMILY}, {NFTA_NAT_REG_ADDR_MIN, K::kReg},
         {NFTA_NAT_REG_ADDR_MAX, K::kReg}, {NFTA_NAT_REG_PROTO_MIN, K::kReg},
         {NFTA_NAT_REG_PROTO_MAX, K::kReg}, {NFTA_NAT_FLAGS}},
        true, fixup_nat}},
      {"masq",
       {{{NFTA_MASQ_FLAGS}, {NFTA_MASQ_REG_PROTO_MIN, K::kReg},
         {NFTA_MASQ_REG_PROTO_MAX, K::kReg}},
        true, fixup_masq}},
      {"redir",
       {{{NFTA_REDIR_REG_PROTO_MIN, K::kReg}, {NFTA_REDIR_REG_PROTO_MAX, K::kReg},
         {NFTA_REDIR_FLAGS}},
        true, fixup_redir}},
      {"limit",
       {{{NFTA_LIMIT_RATE, K::kRaw, be64(0)}, {NFTA_LIMIT_UNIT, K::kRaw, be64(0)},
         {NFTA_LIMIT_BURST, K::kRaw, be32(0)}, {NFTA_LIMIT_TYPE, K::kRaw, be32(0)},
         {NFTA_LIMIT_FLAGS, K::kRaw, be32(0)}},
        true, fixup_limit}},
      {"quota",
       {{{NFTA_QUOTA_BYTES, K::kRaw, be64(0)}, {NFTA_QUOTA_CONSUMED, K::kRaw, be64(0)},
         {NFTA_QUOTA_FLAGS, K::kRaw, be32(0)}},
        true, fixup_quota}},
      // Object-only kinds (NFTA_OBJ_DATA of ct helper/timeout/expectation and secmark).
      {"ct_helper",
       {{{NFTA_CT_HELPER_NAME, K::kStr}, {NFTA_CT_HELPER_L4PROTO}, {NFTA_CT_HELPER_L3PROTO}}}},
      {"ct_timeout",
       {{{NFTA_CT_TIMEOUT_L4PROTO}, {NFTA_CT_TIMEOUT_L3PROTO}, {NFTA_CT_TIMEOUT_DATA, K::kNest}}}},
      {"ct_expect",
       {{{NFTA_CT_EXPECT_L3PROTO}, {NFTA_CT_EXPECT_L4PROTO}, {NFTA_CT_EXPECT_DPORT},
         {NFTA_CT_EXPECT_TIMEOUT}, {NFTA_CT_EXPECT_SIZE}}}},
      {"secmark", {{{NFTA_SECMARK_CTX, K::kStr}}}},
      {"log",
       {{{NFTA_LOG_PREFIX, K::kStr}, {NFTA_LOG_LEVEL}, {NFTA_LOG_FLAGS}, {NFTA_LOG_GROUP},
         {NFTA_LOG_SNAPLEN}, {NFTA_LOG_QTHRESHOLD}}}},
      {"queue",
       {{{NFTA_QUEUE_NUM}, {NFTA_QUEUE_TOTAL}, {NFTA_QUEUE_SREG_QNUM, K::kReg},
         {NFTA_QUEUE_FLAGS}}}},
      {"dynset",
       {{{NFTA_DYNSET_SREG_KEY, K::kReg}, {NFTA_DYNSET_SREG_DATA, K::kReg}, {NFTA_DYNSET_OP},
         {NFTA_DYNSET_SET_NAME, K::kStr}, {NFTA_DYNSET_TIMEOUT, K::kRaw, be64(0)},
         {NFTA_DYNSET_EXPR, K::kExprs}, {NFTA_DYNSET_EXPRESSIONS, K::kNest},
         {NFTA_DYNSET_FLAGS, K::kRaw, be32(0)}}}},
      {"objref",
       {{{NFTA_OBJREF_IMM_NAME, K::kStr}, {NFTA_OBJREF_IMM_TYPE}, {NFTA_OBJREF_SET_SREG, K::kReg},
         {NFTA_OBJREF_SET_NAME, K::kStr}}}},
      {"notrack", {{}, false}},
      {"socket", {{{NFTA_SOCKET_KEY}, {NFTA_SOCKET_DREG, K::kReg}, {NFTA_SOCKET_LEVEL}}, true,
                  fixup_socket}},
      {"hash",
       {{{NFTA_HASH_SREG, K::kReg}, {NFTA_HASH_DREG, K::kReg}, {NFTA_HASH_LEN},
         {NFTA_HASH_MODULUS}, {NFTA_HASH_SEED}, {NFTA_HASH_OFFSET}, {NFTA_HASH_TYPE}},
        true, fixup_hash}},
      {"numgen",
       {{{NFTA_NG_DREG, K::kReg}, {NFTA_NG_MODULUS}, {NFTA_NG_TYPE}, {NFTA_NG_OFFSET}}}},
      {"dup", {{{NFTA_DUP_SREG_ADDR, K::kReg}, {NFTA_DUP_SREG_DEV, K::kReg}}}},
      {"fwd",
       {{{NFTA_FWD_SREG_DEV, K::kReg}, {NFTA_FWD_SREG_ADDR, K::kReg}, {NFTA_FWD_NFPROTO}}}},
      {"connlimit", {{{NFTA_CONNLIMIT_COUNT}, {NFTA_CONNLIMIT_FLAGS}}, true, fixup_connlimit}},
      {"tproxy", {{{NFTA_TPROXY_FAMILY}, {NFTA_TPROXY_REG_ADDR, K::kReg},
                   {NFTA_TPROXY_REG_PORT, K::kReg}}}},
      {"synproxy", {{{NFTA_SYNPROXY_MSS}, {NFTA_SYNPROXY_WSCALE}, {NFTA_SYNPROXY_FLAGS}}}},
      {"osf", {{{NFTA_OSF_TTL}, {NFTA_OSF_FLAGS}, {NFTA_OSF_DREG, K::kReg}}, true, fixup_osf}},
      {"xfrm", {{{NFTA_XFRM_DREG, K::kReg}, {NFTA_XFRM_KEY}, {NFTA_XFRM_DIR}, {NFTA_XFRM_SPNUM}}}},
      {"last", {{{NFTA_LAST_SET}, {NFTA_LAST_MSECS}}}},
      {"match", {{}}},
      {"target", {{}}},
      {"flow_offload", {{}}},
      {"tunnel", {{}}},
      {"inner", {{}}},
  };
  return m;
}

// nft_parse_register + nft_dump_register: 32-bit register numbers and their 128-bit aliases.
uint32_t normalise_reg(uint32_t reg) {
  const uint32_t r32 = reg <= NFT_REG_4 ? reg * 4 : reg - NFT_REG32_00 + 4;
  if (r32 % 4 == 0) return r32 / 4;
  return r32 - 4 + NFT_REG32_00;
}

store::ExprAttr raw_attr(const Attr& a) {
  store::ExprAttr e;
  e.type = a.type;
  e.payload.assign(a.payload.begin(), a.payload.end());
  return e;
}

store::ExprAttr tree_attr(const Attr& a) {
  store::ExprAttr e;
  e.type = a.type;
  size_t rest = 0;
  auto kids = split_attrs(a.payload, a.offset + NLA_HDRLEN, &rest);
  if (a.nested_flag || (!kids.empty() && rest == 0)) {
    e.nest = true;
    for (const Attr& k : kids) e.children.push_back(tree_attr(k));
  } else {
    e.payload.assign(a.payload.begin(), a.payload.end());
  }
  return e;
}

Result<store::ExprAttr> parse_verdict(const Attr& a, ExprContext& ctx) {
  NFBPF_TRY_ASSIGN(tb, parse_nested(a, policy::verdict()));
  if (!tb[NFTA_VERDICT_CODE]) return fail(EINVAL, "");
  int32_t code = int32_t(tb[NFTA_VERDICT_CODE]->be32());
  store::ExprAttr v;
  v.type = NFTA_DATA_VERDICT;
  v.nest = true;
  store::ExprAttr c;
  c.type = NFTA_VERDICT_CODE;
  c.payload = be32(uint32_t(code));
  v.children.push_back(c);
  switch (code) {
    case NF_ACCEPT: case NF_DROP: case NF_QUEUE: case NFT_CONTINUE: case NFT_BREAK:
    case NFT_RETURN:
      break;
    case NFT_JUMP:
    case NFT_GOTO: {
      store::Chain* target = nullptr;
      if (tb[NFTA_VERDICT_CHAIN]) {
        target = ctx.table ? ctx.table->find_chain(tb[NFTA_VERDICT_CHAIN]->str()) : nullptr;
      } else if (tb[NFTA_VERDICT_CHAIN_ID]) {
        target = ctx.txn ? ctx.txn->chain_by_id(ctx.table, tb[NFTA_VERDICT_CHAIN_ID]->be32())
                         : nullptr;
      } else {
        return fail(EINVAL, "");
      }
      if (!target) {
        const Attr* at = tb[NFTA_VERDICT_CHAIN] ? tb[NFTA_VERDICT_CHAIN] : tb[NFTA_VERDICT_CHAIN_ID];
        Error e(ENOENT, "");
        e.bad_attr = at->offset;
        return std::unexpected(std::move(e));
      }
      if (target->is_base()) return fail(EOPNOTSUPP, "");
      if (ctx.jump_targets) ctx.jump_targets->push_back(target);
      store::ExprAttr name;
      name.type = NFTA_VERDICT_CHAIN;
      name.payload.assign(target->name.begin(), target->name.end());
      name.payload.push_back(0);
      v.children.push_back(name);
      break;
    }
    default:
      return fail(EINVAL, "");
  }
  return v;
}

}  // namespace

Result<store::ExprAttr> parse_data(const Attr& a, ExprContext& ctx) {
  NFBPF_TRY_ASSIGN(tb, parse_nested(a, policy::data()));
  store::ExprAttr out;
  out.type = a.type;
  out.nest = true;
  if (tb[NFTA_DATA_VALUE]) {
    if (tb[NFTA_DATA_VALUE]->payload.empty()) return fail(EINVAL, "");
    out.children.push_back(raw_attr(*tb[NFTA_DATA_VALUE]));
    out.children.back().type = NFTA_DATA_VALUE;
    return out;
  }
  if (tb[NFTA_DATA_VERDICT]) {
    NFBPF_TRY_ASSIGN(v, parse_verdict(*tb[NFTA_DATA_VERDICT], ctx));
    out.children.push_back(std::move(v));
    return out;
  }
  return fail(EINVAL, "");
}

Result<store::Expr> parse_expr(const Attr& elem, ExprContext& ctx) {
  NFBPF_TRY_ASSIGN(tb, parse_nested(elem, policy::expr()));
  if (!tb[NFTA_EXPR_NAME]) return fail(EINVAL, "");
  return build_expr(std::string(tb[NFTA_EXPR_NAME]->str()), tb[NFTA_EXPR_DATA], ctx);
}

Result<std::vector<store::ExprAttr>> parse_object_data(uint32_t type, const Attr* data,
                                                       ExprContext& ctx) {
  static const std::map<uint32_t, std::string> kObjKinds = {
      {NFT_OBJECT_COUNTER, "counter"},       {NFT_OBJECT_QUOTA, "quota"},
      {NFT_OBJECT_CT_HELPER, "ct_helper"},   {NFT_OBJECT_LIMIT, "limit"},
      {NFT_OBJECT_CONNLIMIT, "connlimit"},   {NFT_OBJECT_CT_TIMEOUT, "ct_timeout"},
      {NFT_OBJECT_SECMARK, "secmark"},       {NFT_OBJECT_CT_EXPECT, "ct_expect"},
      {NFT_OBJECT_SYNPROXY, "synproxy"},
  };
  // nft_obj_type_get() on this kernel (ENOENT for a type it lacks in this family, and for a
  // number no kernel knows); a secmark context no LSM maps is ENOENT as well.
  const uint8_t family = ctx.table ? ctx.table->family : ctx.family;
  if (type == NFT_OBJECT_UNSPEC || type > NFT_OBJECT_MAX) return fail(ENOENT, "");
  if (!kernel_caps().has_object(family, type)) return fail(ENOENT, "");
  if (type == NFT_OBJECT_SECMARK && kernel_caps().secmark_unresolvable) return fail(ENOENT, "");
  auto it = kObjKinds.find(type);
  if (it == kObjKinds.end()) return fail(EOPNOTSUPP, "");  // e.g. tunnel: not emulated
  NFBPF_TRY_ASSIGN(e, build_expr(it->second, data, ctx));
  if (type == NFT_OBJECT_CT_EXPECT && !e.find(NFTA_CT_EXPECT_L3PROTO)) {
    // nft_ct_expect_obj_dump(): L3PROTO (the table's family by default) comes first.
    store::ExprAttr a;
    a.type = NFTA_CT_EXPECT_L3PROTO;
    a.payload = {uint8_t(family >> 8), uint8_t(family)};
    e.data.insert(e.data.begin(), std::move(a));
  }
  if (type == NFT_OBJECT_CT_TIMEOUT) {
    // nft_ct_timeout_obj_dump(): L3PROTO defaults to the table's family; the timeout list is
    // a flagged nest.
    if (!e.find(NFTA_CT_TIMEOUT_L3PROTO)) {
      store::ExprAttr a;
      a.type = NFTA_CT_TIMEOUT_L3PROTO;
      a.payload = {uint8_t(family >> 8), uint8_t(family)};
      auto pos = std::find_if(e.data.begin(), e.data.end(),
                              [](const auto& x) { return x.type == NFTA_CT_TIMEOUT_DATA; });
      e.data.insert(pos, std::move(a));
    }
    for (auto& a : e.data)
      if (a.type == NFTA_CT_TIMEOUT_DATA) {
        a.nest = true;
        a.nest_flag = true;
      }
  }
  if (type == NFT_OBJECT_CT_HELPER) {
    // nft_ct_helper_obj_init(): the helper's layer 3 must fit the table's family; without
    // L3PROTO the table's family is used (inet: both), which the kernel then dumps.
    const store::ExprAttr* l3 = e.find(NFTA_CT_HELPER_L3PROTO);
    const uint16_t want = l3 ? uint16_t(l3->payload.size() >= 2 ? (l3->payload[0] << 8 | l3->payload[1]) : 0)
                             : uint16_t(family);
    switch (want) {
      case NFPROTO_IPV4: if (family == NFPROTO_IPV6) return fail(EINVAL, ""); break;
      case NFPROTO_IPV6: if (family == NFPROTO_IPV4) return fail(EINVAL, ""); break;
      case NFPROTO_NETDEV: case NFPROTO_BRIDGE: case NFPROTO_INET: break;
      default: return fail(EAFNOSUPPORT, "");
    }
    if (!l3) {
      store::ExprAttr a;
      a.type = NFTA_CT_HELPER_L3PROTO;
      a.payload = {uint8_t(want >> 8), uint8_t(want)};
      e.data.push_back(std::move(a));
    }
  }
  return std::move(e.data);
}

// What the running kernel lacks, as it answered the probe (kernel_caps.h): expression types it
// does not register for this family are ENOENT (e.g. "queue" without CONFIG_NFT_QUEUE, bridge
// "reject" without CONFIG_NFT_BRIDGE_REJECT), and a meta key it cannot load gets its errno
// (e.g. the bridge keys without nft_meta_bridge: EOPNOTSUPP).
Result<void> check_available(const store::Expr& e, const std::map<uint16_t, Attr>& given,
                             uint8_t family) {
  const KernelCaps& caps = kernel_caps();
  if (!caps.has_expr(family, e.name)) return fail(ENOENT, "");
  if (auto k = given.find(NFTA_META_KEY); e.name == "meta" && k != given.end()) {
    const uint32_t key = k->second.be32();
    const int err = given.contains(NFTA_META_SREG) ? caps.meta_set_error(family, key)
                                                   : caps.meta_get_error(family, key);
    if (err) return fail(err, "");
  }
  return {};
}

// The table's family: set and element expressions are parsed without ctx.family set.
static uint8_t expr_family(const ExprContext& ctx) {
  return ctx.family ? ctx.family : ctx.table ? ctx.table->family : uint8_t(NFPROTO_UNSPEC);
}

Result<store::Expr> build_expr(std::string name, const Attr* data, ExprContext& ctx) {
  store::Expr e;
  e.name = std::move(name);
  auto it = kinds().find(e.name);
  if (it == kinds().end()) return failf(ENOENT, "unknown expression {}", e.name);
  const KindSpec& spec = it->second;
  if (!spec.dumps_data) {  // notrack: no attributes, but the type must exist all the same
    if (!kernel_caps().has_expr(expr_family(ctx), e.name)) return fail(ENOENT, "");
    return e;
  }

  std::map<uint16_t, Attr> given;  // last one wins, as nla_parse
  if (data) {
    size_t rest = 0;
    for (const Attr& a : split_attrs(data->payload, data->offset + NLA_HDRLEN, &rest))
      given[a.type] = a;
  }
  NFBPF_TRYV(check_available(e, given, expr_family(ctx)));
  if (e.name == "match" || e.name == "target") {  // x_tables blobs (iptables-nft): nfnl-server/compat
    NFBPF_TRY_ASSIGN(xt, nfnl::compat::build_xt_expr(
                             e.name == "target", given,
                             {expr_family(ctx), ctx.table ? std::string_view(ctx.table->name) : "",
                              ctx.chain, ctx.rule_compat}));
    e.data = std::move(xt);
    return e;
  }
  if (spec.fields.empty()) {
    // Kinds we only store (compat match/target, ...): keep the request's attributes as a tree.
    for (auto& [t, a] : given) e.data.push_back(tree_attr(a));
    return e;
  }
  for (const Field& f : spec.fields) {
    auto g = given.find(f.type);
    if (g == given.end()) {
      if (f.dflt) {
        store::ExprAttr d;
        d.type = f.type;
        d.payload = *f.dflt;
        e.data.push_back(std::move(d));
      }
      continue;
    }
    const Attr& a = g->second;
    switch (f.k) {
      case K::kRaw: e.data.push_back(raw_attr(a)); break;
      case K::kStr: {
        store::ExprAttr s;
        s.type = f.type;
        std::string_view v = a.str();
        s.payload.assign(v.begin(), v.end());
        s.payload.push_back(0);
        e.data.push_back(std::move(s));
        break;
      }
      case K::kReg: {
        if (a.payload.size() != 4) return fail(ERANGE, "");
        store::ExprAttr r;
        r.type = f.type;
        r.payload = be32(normalise_reg(a.be32()));
        e.data.push_back(std::move(r));
        break;
      }
      case K::kData: {
        NFBPF_TRY_ASSIGN(d, parse_data(a, ctx));
        e.data.push_back(std::move(d));
        break;
      }
      case K::kNest: e.data.push_back(tree_attr(a)); break;
      case K::kExprs: {
        NFBPF_TRY_ASSIGN(inner, parse_expr(a, ctx));
        store::ExprAttr n;
        n.type = f.type;
        n.nest = true;
        store::ExprAttr inner_name;
        inner_name.type = NFTA_EXPR_NAME;
        inner_name.payload.assign(inner.name.begin(), inner.name.end());
        inner_name.payload.push_back(0);
        n.children.push_back(std::move(inner_name));
        store::ExprAttr inner_data;
        inner_data.type = NFTA_EXPR_DATA;
        inner_data.nest = true;
        inner_data.children = std::move(inner.data);
        n.children.push_back(std::move(inner_data));
        e.data.push_back(std::move(n));
        break;
      }
    }
  }
  if (spec.fixup) NFBPF_TRYV(spec.fixup(e.data));
  // Kind-specific state the kernel derives (see each ->init()).
  if (e.name == "log" && !e.find(NFTA_LOG_GROUP) && !e.find(NFTA_LOG_LEVEL)) {
    store::ExprAttr lvl;
    lvl.type = NFTA_LOG_LEVEL;
    lvl.payload = be32(NFT_LOGLEVEL_WARNING);
    auto pos = std::find_if(e.data.begin(), e.data.end(),
                            [](const auto& x) { return x.type != NFTA_LOG_PREFIX; });
    e.data.insert(pos, std::move(lvl));
  }
  if (e.name == "objref" && e.find(NFTA_OBJREF_IMM_NAME)) {
    const store::ExprAttr* n = e.find(NFTA_OBJREF_IMM_NAME);
    const store::ExprAttr* t = e.find(NFTA_OBJREF_IMM_TYPE);
    store::Object* o = ctx.table && t ? ctx.table->find_object(n->str(), t->be32()) : nullptr;
    if (!o) return fail(ENOENT, "");
    if (ctx.obj_refs) ctx.obj_refs->push_back(o);
  }
  if (e.name == "lookup" || e.name == "dynset" || e.name == "objref") {
    uint16_t name_attr = NFTA_OBJREF_SET_NAME, id_attr = NFTA_OBJREF_SET_ID;
    if (e.name == "lookup") name_attr = NFTA_LOOKUP_SET, id_attr = NFTA_LOOKUP_SET_ID;
    if (e.name == "dynset") name_attr = NFTA_DYNSET_SET_NAME, id_attr = NFTA_DYNSET_SET_ID;
    store::ExprAttr* n = nullptr;
    for (auto& a : e.data)
      if (a.type == name_attr) n = &a;
    if (n) {
      store::Set* s = ctx.table ? ctx.table->find_set(n->str()) : nullptr;
      if (!s && given.count(id_attr) && ctx.txn)
        s = ctx.txn->set_by_id(ctx.table, given[id_attr].be32());
      if (!s) return fail(ENOENT, "");
      // nf_tables_bind_set(): an anonymous set binds to exactly one rule.
      if (s->anonymous() && s->use > 0) return fail(EBUSY, "");
      if (e.name == "dynset") {
        // nft_dynset_init(): the set must be updatable from the packet path.
        if (s->flags & NFT_SET_CONSTANT) return fail(EBUSY, "");
        if (s->backend != store::SetBackend::kRhash) return fail(EOPNOTSUPP, "");
        if (s->size == 0) s->size = 0xffff;  // as the kernel: permanent, even if aborted
      }
      if (ctx.set_refs) ctx.set_refs->push_back(s);
      // nft names anonymous sets "__set%d"; the kernel dumps the name it allocated.
      n->payload.assign(s->name.begin(), s->name.end());
      n->payload.push_back(0);
    }
  }
  return e;
}

Result<void> check_set_expr(const store::Expr& e, const store::Set& s) {
  static const std::set<std::string_view> kStateful = {"counter", "limit", "quota",
                                                       "connlimit", "last"};
  if (!kStateful.contains(e.name)) return fail(EOPNOTSUPP, "");
  if (e.name == "connlimit" &&
      ((s.flags & NFT_SET_TIMEOUT) || s.backend != store::SetBackend::kRhash))
    return fail(EOPNOTSUPP, "");
  return {};
}

void dump_attr(MsgWriter& w, const store::ExprAttr& a) {
  if (!a.nest) {
    w.put(a.type, a.payload);
    return;
  }
  size_t n = w.nest_start(a.nest_flag ? uint16_t(a.type | NLA_F_NESTED) : a.type);
  for (const auto& c : a.children) dump_attr(w, c);
  w.nest_end(n);
}

void dump_expr_body(MsgWriter& w, const store::Expr& e) {
  w.put_str(NFTA_EXPR_NAME, e.name);
  auto it = kinds().find(e.name);
  if (it != kinds().end() && !it->second.dumps_data) return;
  size_t d = w.nest_start(NFTA_EXPR_DATA);
  for (const auto& a : e.data) dump_attr(w, a);
  w.nest_end(d);
}

}  // namespace nfbpf::nftables
