#include "nfnl-server/nftables/elem_index.h"

#include <linux/netfilter/nf_tables.h>

namespace nfbpf::nftables {

// Keys of one set have one length, so flags, the key and the optional end concatenate without
// ambiguity (a marker byte says whether an end follows).
std::string ElemIndex::key_of(const store::SetElem& e) {
  std::string k;
  k.reserve(2 + e.key.size() * 2);
  k.push_back(char(e.flags & (NFT_SET_ELEM_INTERVAL_END | NFT_SET_ELEM_CATCHALL)));
  k.push_back(e.key_end ? 1 : 0);
  k.append(e.key.begin(), e.key.end());
  if (e.key_end) k.append(e.key_end->begin(), e.key_end->end());
  return k;
}

ElemIndex::Iter ElemIndex::find(const store::SetElem& e) const {
  auto it = by_key_.find(key_of(e));
  return it == by_key_.end() ? end_ : it->second;
}

}  // namespace nfbpf::nftables
