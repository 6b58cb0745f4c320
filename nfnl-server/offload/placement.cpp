#include "nfnl-server/offload/placement.h"

#include <deque>
#include <map>

#include <fmt/format.h>

namespace nfbpf::offload {

namespace {

// Every chain reachable from `from` (itself included), breadth first; unknown names are skipped
// (the store refuses jumps to missing chains, so only a test's facts can have them).
std::vector<size_t> reachable(const TableFacts& t, size_t from, const std::map<std::string, size_t>& index) {
  std::vector<bool> seen(t.chains.size(), false);
  std::vector<size_t> out;
  std::deque<size_t> todo{from};
  seen[from] = true;
  while (!todo.empty()) {
    const size_t i = todo.front();
    todo.pop_front();
    out.push_back(i);
    for (const std::string& name : t.chains[i].targets) {
      auto it = index.find(name);
      if (it == index.end() || seen[it->second]) continue;
      seen[it->second] = true;
      todo.push_back(it->second);
    }
  }
  return out;
}

// Why a base chain's group cannot run as BPF; nullopt: it can.
std::optional<std::string> kernel_reason(const TableFacts& t, size_t base, const std::vector<size_t>& group,
                                         const std::map<std::string, std::string>& forced) {
  const ChainFacts& b = t.chains[base];
  if (!t.bpf_family) return fmt::format("family {} does not run as BPF", t.family);
  if (b.type != "filter" && b.type != "route") return fmt::format("{} chains do not run as BPF", b.type);
  if (t.refusal) return *t.refusal;
  if (auto f = forced.find(b.name); f != forced.end()) return f->second;
  for (size_t i : group) {
    const ChainFacts& c = t.chains[i];
    if (!c.refusal) continue;
    if (i == base) return *c.refusal;
    return fmt::format("reaches chain {}: {}", c.name, *c.refusal);
  }
  return std::nullopt;
}

}  // namespace

bool TablePlacement::any_kernel() const {
  for (const auto& c : chains)
    if (c.kernel) return true;
  return false;
}

bool TablePlacement::any_bpf() const {
  for (const auto& c : chains)
    if (c.bpf) return true;
  return false;
}

const ChainPlacement* TablePlacement::find(const std::string& chain) const {
  for (const auto& c : chains)
    if (c.chain == chain) return &c;
  return nullptr;
}

TablePlacement place_table(const TableFacts& t, const std::map<std::string, std::string>& forced_kernel) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < t.chains.size(); ++i) index.emplace(t.chains[i].name, i);
  TablePlacement out;
  for (const ChainFacts& c : t.chains) out.chains.push_back(ChainPlacement{.chain = c.name, .base = c.base});
  for (size_t i = 0; i < t.chains.size(); ++i) {
    if (!t.chains[i].base) continue;
    const std::vector<size_t> group = reachable(t, i, index);
    const std::optional<std::string> why = kernel_reason(t, i, group, forced_kernel);
    for (size_t g : group) (why ? out.chains[g].kernel : out.chains[g].bpf) = true;
    if (why) out.chains[i].reason = *why;
  }
  return out;
}

}  // namespace nfbpf::offload
