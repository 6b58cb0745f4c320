#include "nfnl-server/nftables/nla.h"

#include <linux/netlink.h>

#include <cstring>

namespace nfbpf::nftables {
namespace {

uint64_t load_be(std::span<const uint8_t> p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && i < p.size(); i++) v = (v << 8) | p[i];
  return v;
}

// Exact lengths enforced by NL_VALIDATE_STRICT_ATTRS (nla_attr_len[] in lib/nlattr.c).
size_t exact_len(NlaType t) {
  switch (t) {
    case NlaType::kU8: return 1;
    case NlaType::kU16: return 2;
    case NlaType::kU32: return 4;
    case NlaType::kU64: return 8;
    default: return 0;
  }
}

Error attr_error(int err, const char* msg, const Attr& a) {
  Error e(err, msg);
  e.bad_attr = a.offset;
  return e;
}

// validate_nla() for one attribute whose type is within the policy.
Result<void> validate(const Attr& a, const NlaPolicy& pt, bool strict, const NlaPolicy** failed) {
  if (failed) *failed = &pt;  // cleared again below for the errors that carry no policy
  const size_t len = a.payload.size();
  if (size_t want = exact_len(pt.type); want && len != want && strict)
    return std::unexpected(attr_error(EINVAL, "invalid attribute length", a));
  if (strict) {
    const bool nest_type = pt.type == NlaType::kNested || pt.type == NlaType::kNestedArray;
    if (nest_type && !a.nested_flag)
      return std::unexpected(attr_error(EINVAL, "NLA_F_NESTED is missing", a));
    if (!nest_type && pt.type != NlaType::kUnspec && a.nested_flag)
      return std::unexpected(attr_error(EINVAL, "NLA_F_NESTED not expected", a));
  }
  const auto policy_fail = [&](int err) {
    return std::unexpected(attr_error(err, "Attribute failed policy validation", a));
  };
  switch (pt.type) {
    case NlaType::kUnspec:
      if (strict) {
        if (failed) *failed = nullptr;
        return std::unexpected(attr_error(EINVAL, "Unsupported attribute", a));
      }
      if (len < pt.len) return policy_fail(ERANGE);
      return {};
    case NlaType::kReject:
      return std::unexpected(attr_error(EINVAL, "Attribute failed policy validation", a));
    case NlaType::kFlag:
      if (len > 0) return policy_fail(ERANGE);
      return {};
    case NlaType::kNulString: {
      size_t minlen = pt.len ? std::min(len, size_t(pt.len) + 1) : len;
      if (!minlen || !std::memchr(a.payload.data(), 0, minlen)) return policy_fail(EINVAL);
      [[fallthrough]];
    }
    case NlaType::kString: {
      if (len < 1) return policy_fail(ERANGE);
      if (pt.len) {
        size_t l = len;
        if (a.payload[l - 1] == 0) l--;
        if (l > pt.len) return policy_fail(ERANGE);
      }
      return {};
    }
    case NlaType::kBinary:
      if (pt.len && len > pt.len) return policy_fail(ERANGE);
      return {};
    case NlaType::kNested:
    case NlaType::kNestedArray:
      if (len == 0) return {};
      if (len < NLA_HDRLEN) return policy_fail(ERANGE);
      return {};
    default: {
      size_t minlen = pt.len ? pt.len : exact_len(pt.type);
      if (len < minlen) return policy_fail(ERANGE);
      return {};
    }
  }
}

}  // namespace

uint8_t Attr::u8() const { return payload.empty() ? 0 : payload[0]; }
uint16_t Attr::be16() const { return uint16_t(load_be(payload, 2)); }
uint32_t Attr::be32() const { return uint32_t(load_be(payload, 4)); }
uint64_t Attr::be64() const { return load_be(payload, 8); }

std::string_view Attr::str() const {
  auto* p = reinterpret_cast<const char*>(payload.data());
  size_t n = payload.size();
  if (n && p[n - 1] == 0) n--;
  // nla_strdup/nla_strscpy stop at the first NUL as well.
  if (const void* z = std::memchr(p, 0, n)) n = size_t(static_cast<const char*>(z) - p);
  return {p, n};
}

std::vector<Attr> split_attrs(std::span<const uint8_t> data, uint32_t base_offset, size_t* rest) {
  std::vector<Attr> out;
  size_t pos = 0;
  while (pos + NLA_HDRLEN <= data.size()) {  // pos may pass the end after alignment
    uint16_t len, type;
    std::memcpy(&len, data.data() + pos, 2);
    std::memcpy(&type, data.data() + pos + 2, 2);
    if (len < NLA_HDRLEN || len > data.size() - pos) break;
    Attr a;
    a.type = type & NLA_TYPE_MASK;
    a.nested_flag = type & NLA_F_NESTED;
    a.payload = data.subspan(pos + NLA_HDRLEN, len - NLA_HDRLEN);
    a.offset = base_offset + uint32_t(pos);
    out.push_back(a);
    pos += NLA_ALIGN(len);
  }
  if (rest) *rest = pos >= data.size() ? 0 : data.size() - pos;
  return out;
}

Result<AttrTable> parse_attrs(std::span<const uint8_t> data, uint32_t base_offset, Policy policy,
                              bool strict, const NlaPolicy** failed) {
  if (failed) *failed = nullptr;
  const size_t max = policy.size() - 1;
  AttrTable tb(max);
  size_t rest = 0;
  for (const Attr& a : split_attrs(data, base_offset, &rest)) {
    if (a.type == 0 || a.type > max) {
      if (strict) return std::unexpected(attr_error(EINVAL, "Unknown attribute type", a));
      continue;
    }
    if (auto v = validate(a, policy[a.type], strict, failed); !v) return std::unexpected(v.error());
    if (failed) *failed = nullptr;
    tb.set(a.type, a);
  }
  if (rest > 0 && strict) return fail(EINVAL, "bytes leftover after parsing attributes");
  return tb;
}

Result<AttrTable> parse_nested(const Attr& nest, Policy policy, bool strict) {
  return parse_attrs(nest.payload, nest.offset + NLA_HDRLEN, policy, strict);
}

}  // namespace nfbpf::nftables
