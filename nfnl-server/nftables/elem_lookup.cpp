#include "nfnl-server/nftables/elem_lookup.h"

#include <linux/netfilter/nf_tables.h>

#include <cstring>
#include <vector>

namespace nfbpf::nftables {
namespace {

bool live(const store::SetElem& e, uint64_t now) { return e.vis.cur && !e.expired(now); }
bool is_end(const store::SetElem& e) { return e.flags & NFT_SET_ELEM_INTERVAL_END; }
bool is_catchall(const store::SetElem& e) { return e.flags & NFT_SET_ELEM_CATCHALL; }

const store::SetElem* exact(const store::Set& s, const store::SetElem& probe, uint64_t now) {
  for (const auto& e : s.elems)
    if (live(e, now) && !is_catchall(e) && e.key == probe.key) return &e;
  return nullptr;
}

const store::SetElem* rbtree(const store::Set& s, const store::SetElem& probe, uint64_t now) {
  const bool want_end = is_end(probe);
  const store::SetElem* below = nullptr;  // greatest key < probe
  const store::SetElem* above = nullptr;  // smallest key > probe
  bool end_on_key = false;
  for (const auto& e : s.elems) {
    if (!live(e, now) || is_catchall(e)) continue;
    if (e.key == probe.key) {
      if (is_end(e) == want_end) return &e;
      end_on_key = end_on_key || is_end(e);
      continue;
    }
    if (e.key < probe.key) {
      if (!below || below->key < e.key) below = &e;
    } else if (!above || e.key < above->key) {
      above = &e;
    }
  }
  if (!want_end) return below && !is_end(*below) && !end_on_key ? below : nullptr;
  return above && is_end(*above) ? above : nullptr;
}

}  // namespace

// Each field sits at a 32-bit register boundary of the key (NFT_REG32_SIZE).
bool elem_contains(const store::Set& s, const store::SetElem& e, const std::vector<uint8_t>& key) {
  const std::vector<uint8_t>& lo = e.key;
  const std::vector<uint8_t>& hi = e.key_end ? *e.key_end : e.key;
  size_t off = 0;
  for (uint32_t len : s.field_len) {
    if (off + len > key.size() || off + len > lo.size() || off + len > hi.size()) return false;
    if (std::memcmp(key.data() + off, lo.data() + off, len) < 0) return false;
    if (std::memcmp(key.data() + off, hi.data() + off, len) > 0) return false;
    off += (len + 3) / 4 * 4;
  }
  return true;
}

namespace {

const store::SetElem* pipapo(const store::Set& s, const store::SetElem& probe, uint64_t now) {
  for (const auto& e : s.elems)
    if (live(e, now) && !is_catchall(e) && elem_contains(s, e, probe.key)) return &e;
  return nullptr;
}

}  // namespace

const store::SetElem* find_elem_for_get(const store::Set& s, const store::SetElem& probe,
                                        uint64_t now) {
  if (is_catchall(probe)) {
    for (const auto& e : s.elems)
      if (live(e, now) && is_catchall(e)) return &e;
    return nullptr;
  }
  switch (s.backend) {
    case store::SetBackend::kRbtree: return rbtree(s, probe, now);
    case store::SetBackend::kPipapo:
    case store::SetBackend::kPipapoAvx2: return pipapo(s, probe, now);
    default: return exact(s, probe, now);
  }
}

}  // namespace nfbpf::nftables
