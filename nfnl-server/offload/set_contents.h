#pragma once
// What a set's BPF map holds, element by element, so that `nft add/delete element` can be applied
// to a running program's map in place (map updates and deletes, no reload) and expired elements
// can be removed when their timeout runs out (element_expiry.h).
//
// The entries are exactly codegen's (chain::element_entries: one hash entry per element, or the
// element's prefixes in an LPM trie), each tagged with its element's deadline.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/result.h"
#include "nfnl-server/store/ruleset.h"
#include "translate/ir/ir.h"

namespace nfbpf::offload {

struct SetEntry {
  ir::Bytes value;
  std::optional<uint64_t> expires_at_ms;  // store::now_ms() clock; none: never expires
  friend bool operator==(const SetEntry&, const SetEntry&) = default;
};

struct SetContents {
  uint32_t max_entries = 0;  // the map's capacity (fixed when it was created)
  std::map<ir::Bytes, SetEntry> entries;  // by map key
};

// Deadlines of the elements of `next` that have one, by (family, table, set, element key); the
// key is the element's (interval sets: its start), which is the IR element's key.
using ElementDeadlines = std::map<std::tuple<ir::Family, std::string, std::string, ir::Bytes>, uint64_t>;
ElementDeadlines element_deadlines(const store::Ruleset& next);

// The map entries of set `s` of table `t`. E2BIG when they do not fit `max_entries`.
Result<SetContents> set_contents(const ir::Table& t, const ir::Set& s, const ElementDeadlines& deadlines,
                                 uint32_t max_entries);

// What turns a map holding `from` into one holding `to`. Entries of `from` whose deadline is
// not after `now_ms` count as gone (ElementExpiry deleted them, or is about to), so an element
// added again after it expired is written again.
struct SetDiff {
  std::vector<std::pair<ir::Bytes, ir::Bytes>> put;  // new keys and changed values
  std::vector<ir::Bytes> remove;
  bool empty() const { return put.empty() && remove.empty(); }
};
SetDiff diff_sets(const SetContents& from, const SetContents& to, uint64_t now_ms);

}  // namespace nfbpf::offload
