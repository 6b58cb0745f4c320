#pragma once
// Set and map lookups on register bytes, as the kernel's set backends answer them:
// - exact sets (hash, bitmap): the key's `key_len` register bytes equal an element's key;
// - interval sets with one field (rbtree): memcmp(key, elem.key) >= 0 and memcmp(key, key_end) <= 0;
// - interval sets with concatenated fields (pipapo): every part in its own [key, key_end] range,
//   each part compared with memcmp over its padded 4-byte-multiple slot.
// Comparisons are bytewise (memcmp) as in the kernel, so a host-order key in an interval set
// orders by its little-endian bytes: nft converts such keys to big endian (a byteorder
// expression) before the lookup, and the IR must carry that conversion.
// Element timeouts are ignored (every element is live); on a miss, the set's catch-all element (if any)
// answers, as nft_set_catchall_lookup.

#include <cstdint>
#include <span>

#include "translate/ir/ir.h"

namespace nfbpf::eval {

// The element `key` (register layout, set.key_len bytes) falls in, else the catch-all, or nullptr.
const ir::Element* set_lookup(const ir::Set& set, std::span<const uint8_t> key);

}  // namespace nfbpf::eval
