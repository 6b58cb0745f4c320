#include "codegen/chain/sets.h"

#include <cstring>

#include "codegen/matcher/set_lookup.h"
#include "translate/ir/fields.h"

namespace nfbpf::codegen::chain {

namespace {

using ir::Bytes;

uint32_t trailing_zero_bits(const Bytes& b) {
  uint32_t n = 0;
  for (size_t i = b.size(); i-- > 0;) {
    if (b[i] == 0) {
      n += 8;
      continue;
    }
    return n + static_cast<uint32_t>(__builtin_ctz(b[i]));
  }
  return n;
}

Bytes with_low_bits_set(Bytes b, uint32_t k) {
  for (size_t i = b.size(); i-- > 0 && k > 0;) {
    uint32_t take = std::min<uint32_t>(k, 8);
    b[i] |= static_cast<uint8_t>((1u << take) - 1);
    k -= take;
  }
  return b;
}

bool increment(Bytes& b) {  // false on wrap-around
  for (size_t i = b.size(); i-- > 0;)
    if (++b[i] != 0) return true;
  return false;
}

Bytes value_of(const ir::Set& s, const ir::Element& e, const ChainIndex& chains, Result<void>& err) {
  if (s.verdict_map) {
    if (!e.verdict) {
      err = fail(EINVAL, "verdict map element without a verdict");
      return {};
    }
    matcher::VmapValue v{static_cast<uint32_t>(e.verdict->kind), 0};
    if (e.verdict->kind == ir::VerdictKind::kJump || e.verdict->kind == ir::VerdictKind::kGoto) {
      auto it = chains.find(e.verdict->chain);
      if (it == chains.end()) {
        err = failf(ENOENT, "verdict map element jumps to unknown chain '{}'", e.verdict->chain);
        return {};
      }
      v.chain = it->second;
    }
    Bytes b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
  }
  if (s.data_len > 0) {
    Bytes b = e.data;
    b.resize((std::max<uint32_t>(s.data_len, 1) + 3) & ~3u, 0);
    return b;
  }
  Bytes b(4);
  uint32_t one = matcher::kSetMemberValue;
  std::memcpy(b.data(), &one, 4);
  return b;
}

uint32_t value_size(const ir::Set& s) {
  if (s.verdict_map) return sizeof(matcher::VmapValue);
  if (s.data_len > 0) return (s.data_len + 3) & ~3u;
  return 4;
}

Bytes lpm_key(uint32_t prefix_bits, const Bytes& data) {
  Bytes k(4 + data.size());
  std::memcpy(k.data(), &prefix_bits, 4);
  std::memcpy(k.data() + 4, data.data(), data.size());
  return k;
}

}  // namespace

std::string set_map_key(ir::Family family, std::string_view table, std::string_view set) {
  std::string out(ir::to_string(family));
  out += ' ';
  out += table;
  out += '/';
  out += set;
  return out;
}

ChainIndex chain_index(const ir::Table& t) {
  ChainIndex idx;
  for (uint32_t i = 0; i < t.chains.size(); ++i) idx.emplace(t.chains[i].name, i);
  return idx;
}

std::vector<std::pair<uint32_t, Bytes>> interval_prefixes(const Bytes& lo, const Bytes& hi) {
  std::vector<std::pair<uint32_t, Bytes>> out;
  uint32_t w = static_cast<uint32_t>(lo.size() * 8);
  if (lo.size() != hi.size() || std::memcmp(lo.data(), hi.data(), lo.size()) > 0) return out;
  Bytes cur = lo;
  for (;;) {
    uint32_t k = std::min(trailing_zero_bits(cur), w);
    Bytes end;
    for (;; --k) {
      end = with_low_bits_set(cur, k);
      if (std::memcmp(end.data(), hi.data(), hi.size()) <= 0) break;
    }
    out.emplace_back(w - k, cur);
    if (std::memcmp(end.data(), hi.data(), hi.size()) == 0) break;
    cur = end;
    if (!increment(cur)) break;
  }
  return out;
}

Result<std::vector<MapEntry>> element_entries(const ir::Set& s, const ir::Element& e, const ChainIndex& chains) {
  if (e.key.size() != s.key_len) return failf(EINVAL, "element key of {} bytes in a set of key_len {}", e.key.size(), s.key_len);
  Result<void> err;
  Bytes value = value_of(s, e, chains, err);
  if (!err) return std::unexpected(std::move(err).error());
  if (matcher::set_map_kind(s) == matcher::SetMapKind::kHash) return std::vector<MapEntry>{{e.key, value}};

  const Bytes& hi = e.key_end.empty() ? e.key : e.key_end;
  if (hi.size() != s.key_len) return failf(EINVAL, "element key_end of {} bytes in a set of key_len {}", hi.size(), s.key_len);
  std::vector<MapEntry> out;
  if (s.key_parts.size() <= 1) {
    for (auto& [bits, data] : interval_prefixes(e.key, hi)) out.push_back({lpm_key(bits, data), value});
    return out;
  }
  // Concatenation: exact slots, then one ranged slot, then only full-range parts.
  uint32_t off = 0;
  size_t part = 0;
  for (; part < s.key_parts.size(); ++part) {
    uint32_t slot = (s.key_parts[part] + 3) & ~3u;
    if (std::memcmp(e.key.data() + off, hi.data() + off, slot) != 0) break;
    off += slot;
  }
  if (part == s.key_parts.size()) return std::vector<MapEntry>{{lpm_key(s.key_len * 8, e.key), value}};
  uint32_t slot = (s.key_parts[part] + 3) & ~3u;
  uint32_t rest = off + slot;
  for (size_t q = part + 1; q < s.key_parts.size(); ++q) {
    uint32_t qs = (s.key_parts[q] + 3) & ~3u;
    for (uint32_t i = 0; i < s.key_parts[q]; ++i)
      if (e.key[rest + i] != 0 || hi[rest + i] != 0xff)
        return fail(EOPNOTSUPP, "concatenated interval with more than one ranged part cannot be an LPM trie");
    rest += qs;
  }
  Bytes lo_slot(e.key.begin() + off, e.key.begin() + off + slot), hi_slot(hi.begin() + off, hi.begin() + off + slot);
  for (auto& [bits, data] : interval_prefixes(lo_slot, hi_slot)) {
    Bytes full(s.key_len, 0);
    std::memcpy(full.data(), e.key.data(), off);
    std::memcpy(full.data() + off, data.data(), slot);
    out.push_back({lpm_key(off * 8 + bits, full), value});
  }
  return out;
}

Result<SetMap> build_set_map(const ir::Set& s, const ChainIndex& chains, std::string map_name) {
  SetMap m;
  m.set = s.name;
  m.map_name = map_name;
  for (const auto& e : s.elements) {
    auto entries = element_entries(s, e, chains);
    if (!entries) return std::unexpected(std::move(entries).error().with_context("in set " + s.name));
    m.entries.insert(m.entries.end(), entries->begin(), entries->end());
  }
  bool lpm = matcher::set_map_kind(s) == matcher::SetMapKind::kLpm;
  m.spec = kernel::MapSpec{
      .type = lpm ? BPF_MAP_TYPE_LPM_TRIE : BPF_MAP_TYPE_HASH,
      .key_size = lpm ? 4 + s.key_len : s.key_len,
      .value_size = value_size(s),
      .max_entries = std::max<uint32_t>(static_cast<uint32_t>(m.entries.size() * 2), 64),
      .flags = lpm ? static_cast<uint32_t>(BPF_F_NO_PREALLOC) : 0u,
      .name = "nfbpf_" + map_name,
  };
  return m;
}

}  // namespace nfbpf::codegen::chain
