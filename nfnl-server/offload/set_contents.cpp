#include "nfnl-server/offload/set_contents.h"

#include <linux/netfilter/nf_tables.h>

#include <fmt/format.h>

#include "codegen/chain/sets.h"
#include "translate/nft/lower.h"

namespace nfbpf::offload {

ElementDeadlines element_deadlines(const store::Ruleset& next) {
  ElementDeadlines out;
  const uint64_t now = store::now_ms();
  for (const auto& t : next.tables) {
    if (!t->vis.active_next()) continue;
    const ir::Family fam = translate::nft::family_from_nfproto(t->family);
    for (const auto& s : t->sets) {
      if (!s->vis.active_next()) continue;
      for (const auto& e : s->elems) {
        if (!e.vis.active_next() || !e.expires_at_ms || e.expired(now)) continue;
        if (e.flags & NFT_SET_ELEM_INTERVAL_END) continue;  // the interval's start carries it
        out[{fam, t->name, s->name, e.key}] = *e.expires_at_ms;
      }
    }
  }
  return out;
}

Result<SetContents> set_contents(const ir::Table& t, const ir::Set& s, const ElementDeadlines& deadlines,
                                 uint32_t max_entries) {
  SetContents out{.max_entries = max_entries};
  const codegen::chain::ChainIndex chains = codegen::chain::chain_index(t);
  for (const ir::Element& e : s.elements) {
    auto entries = codegen::chain::element_entries(s, e, chains);
    if (!entries) return std::unexpected(std::move(entries).error().with_context("in set " + s.name));
    std::optional<uint64_t> deadline;
    if (auto d = deadlines.find({t.family, t.name, s.name, e.key}); d != deadlines.end()) deadline = d->second;
    for (auto& me : *entries) out.entries[std::move(me.key)] = SetEntry{std::move(me.value), deadline};
  }
  if (out.entries.size() > max_entries)
    return failf(E2BIG, "set {} needs {} map entries, its map holds {}", s.name, out.entries.size(), max_entries);
  return out;
}

SetDiff diff_sets(const SetContents& from, const SetContents& to, uint64_t now_ms) {
  SetDiff d;
  for (const auto& [key, entry] : to.entries) {
    auto old = from.entries.find(key);
    const bool gone = old == from.entries.end() || (old->second.expires_at_ms && *old->second.expires_at_ms <= now_ms);
    if (gone || old->second.value != entry.value) d.put.emplace_back(key, entry.value);
  }
  for (const auto& [key, entry] : from.entries)
    if (!to.entries.contains(key)) d.remove.push_back(key);
  return d;
}

}  // namespace nfbpf::offload
