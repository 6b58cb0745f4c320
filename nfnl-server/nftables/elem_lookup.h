#pragma once
// Finding the committed element a GETSETELEM (without NLM_F_DUMP, as `nft get element` sends it)
// asks for, the way each kernel backend's ->get() does:
//  - hash, rhash, bitmap: the element with exactly this key;
//  - rbtree (single-field intervals): an element with this key and the same interval-end flag,
//    else the interval that contains the key: for a start, the nearest element below the key
//    if that is a start (not if an end element sits on the key itself); for an end, the nearest
//    element above the key if that is an end (__nft_rbtree_get());
//  - pipapo (concatenations with intervals): the element whose ranges contain every field of
//    the key, as the packet path matches (pipapo_get()); a key_end in the request is ignored;
//  - a catchall request: the set's catchall element.
// Expired elements are never found.

#include <cstdint>
#include <vector>

#include "nfnl-server/store/set.h"

namespace nfbpf::nftables {

// Whether pipapo element e's ranges contain every field of key (fields at 32-bit boundaries).
bool elem_contains(const store::Set& s, const store::SetElem& e, const std::vector<uint8_t>& key);

const store::SetElem* find_elem_for_get(const store::Set& s, const store::SetElem& probe,
                                        uint64_t now_ms);

}  // namespace nfbpf::nftables
