#include "translate/ir/build.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace nfbpf::ir::build {

Bytes be16(uint16_t v) { return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; }
Bytes be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
          static_cast<uint8_t>(v)};
}
Bytes host32(uint32_t v) {
  Bytes b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}
Bytes u8(uint8_t v) { return {v}; }

Result<Bytes> ip4(std::string_view dotted) {
  std::string s(dotted);
  Bytes b(4);
  if (inet_pton(AF_INET, s.c_str(), b.data()) != 1) return failf(EINVAL, "bad IPv4 address '{}'", s);
  return b;
}

Result<Bytes> ip6(std::string_view text) {
  std::string s(text);
  Bytes b(16);
  if (inet_pton(AF_INET6, s.c_str(), b.data()) != 1) return failf(EINVAL, "bad IPv6 address '{}'", s);
  return b;
}

Bytes ifname(std::string_view name) {
  Bytes b(16, 0);
  std::memcpy(b.data(), name.data(), std::min<size_t>(name.size(), 15));
  return b;
}

Bytes prefix_mask(uint32_t len_bytes, uint32_t prefix_bits) {
  Bytes m(len_bytes, 0);
  for (uint32_t i = 0; i < len_bytes && prefix_bits > 0; ++i) {
    uint32_t bits = std::min<uint32_t>(prefix_bits, 8);
    m[i] = static_cast<uint8_t>(0xff << (8 - bits));
    prefix_bits -= bits;
  }
  return m;
}

uint32_t key_len(const std::vector<Field>& key) {
  if (key.size() == 1) return key[0].len;
  uint32_t n = 0;
  for (const auto& f : key) n += (f.len + 3) & ~3u;
  return n;
}

Match cmp(KnownField f, Op op, Bytes value) {
  return Match{.key = {known_field(f)}, .op = op, .value = std::move(value)};
}
Match eq(KnownField f, Bytes value) { return cmp(f, Op::kEq, std::move(value)); }
Match ne(KnownField f, Bytes value) { return cmp(f, Op::kNe, std::move(value)); }
Match range(KnownField f, Bytes lo, Bytes hi, bool negate) {
  return Match{.key = {known_field(f)}, .op = negate ? Op::kNotRange : Op::kRange, .value = std::move(lo),
               .value_hi = std::move(hi)};
}
Match prefix(KnownField f, Bytes addr, uint32_t prefix_bits) {
  Bytes mask = prefix_mask(static_cast<uint32_t>(addr.size()), prefix_bits);
  for (size_t i = 0; i < addr.size(); ++i) addr[i] &= mask[i];
  return Match{.key = {known_field(f)}, .mask = std::move(mask), .op = Op::kEq, .value = std::move(addr)};
}
Match masked(KnownField f, Bytes mask, Op op, Bytes value) {
  return Match{.key = {known_field(f)}, .mask = std::move(mask), .op = op, .value = std::move(value)};
}
Match in_set(std::vector<Field> key, std::string set, bool negate) {
  return Match{.key = std::move(key), .op = negate ? Op::kNotInSet : Op::kInSet, .set = std::move(set)};
}

Verdict accept() { return {VerdictKind::kAccept, {}}; }
Verdict drop() { return {VerdictKind::kDrop, {}}; }
Verdict jump(std::string chain) { return {VerdictKind::kJump, std::move(chain)}; }
Verdict go_to(std::string chain) { return {VerdictKind::kGoto, std::move(chain)}; }
Verdict ret() { return {VerdictKind::kReturn, {}}; }

}  // namespace nfbpf::ir::build
