#include "translate/eval/sets.h"

#include <cstring>

namespace nfbpf::eval {

namespace {

bool in_range(std::span<const uint8_t> key, const ir::Element& e, size_t off, size_t n) {
  const ir::Bytes& hi = e.key_end.empty() ? e.key : e.key_end;
  if (e.key.size() < off + n || hi.size() < off + n) return false;  // malformed element: never matches
  return std::memcmp(key.data() + off, e.key.data() + off, n) >= 0 &&
         std::memcmp(key.data() + off, hi.data() + off, n) <= 0;
}

}  // namespace

const ir::Element* set_lookup(const ir::Set& set, std::span<const uint8_t> key) {
  size_t klen = set.key_len;
  if (key.size() < klen) return nullptr;  // malformed key: not even the catch-all
  bool interval = set.flags & ir::kSetInterval;
  for (const ir::Element& e : set.elements) {
    if (!interval) {
      if (e.key.size() >= klen && std::memcmp(key.data(), e.key.data(), klen) == 0) return &e;
      continue;
    }
    if (set.key_parts.size() <= 1) {
      if (in_range(key, e, 0, klen)) return &e;
      continue;
    }
    bool all = true;
    size_t off = 0;
    for (uint32_t part : set.key_parts) {
      size_t slot = (part + 3) & ~size_t{3};
      if (!in_range(key, e, off, slot)) {
        all = false;
        break;
      }
      off += slot;
    }
    if (all) return &e;
  }
  // nft_set_do_lookup: on a miss, the catch-all element (nft_set_catchall_lookup) answers.
  return set.catchall ? &*set.catchall : nullptr;
}

}  // namespace nfbpf::eval
