#pragma once
// The elements of one set by exact key (key, key end, interval-end and catch-all flags), for
// the duration of one NEWSETELEM/DELSETELEM message. Built once per message, so a message that
// adds k elements to a set of n costs O(n + k) instead of a scan of the set per element
// (100 000 elements took minutes). Only messages use it: nothing has to keep it in sync with
// commits, aborts or expiry.

#include <list>
#include <string>
#include <unordered_map>

#include "nfnl-server/store/set.h"

namespace nfbpf::nftables {

class ElemIndex {
 public:
  using Iter = std::list<store::SetElem>::iterator;

  // Indexes the elements of `s` for which include(element) holds. Where two share a key (an
  // expired element not yet collected and its re-added successor) the later one, the live one,
  // is kept, as the kernel's lookups skip expired elements.
  template <typename Include>
  ElemIndex(store::Set& s, Include include) : end_(s.elems.end()) {
    by_key_.reserve(s.elems.size());
    for (auto it = s.elems.begin(); it != s.elems.end(); ++it)
      if (include(*it)) by_key_.insert_or_assign(key_of(*it), it);
  }

  // The indexed element with e's exact key, or end() of the set's list.
  Iter find(const store::SetElem& e) const;
  Iter end() const { return end_; }
  void add(Iter it) { by_key_.insert_or_assign(key_of(*it), it); }
  void remove(const store::SetElem& e) { by_key_.erase(key_of(e)); }

 private:
  static std::string key_of(const store::SetElem& e);

  std::unordered_map<std::string, Iter> by_key_;
  Iter end_;
};

}  // namespace nfbpf::nftables
