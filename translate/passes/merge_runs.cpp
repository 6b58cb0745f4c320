#include "translate/passes/merge_runs.h"

#include "translate/passes/masks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

namespace nfbpf::translate::passes {

namespace {

using ir::Bytes;

bool uses_random(const ir::Match& m) {
  for (const auto& f : m.key)
    if (f.base == ir::Base::kMeta && f.key == static_cast<uint8_t>(ir::MetaKey::kRandom)) return true;
  return false;
}

// Only pure matches (evaluating them once for the whole run gives what each rule would get),
// then at most one Counter as the last step (it counts for the rule whose key matched).
bool pure(const ir::Rule& r) {
  for (size_t i = 0; i < r.steps.size(); ++i) {
    if (i + 1 == r.steps.size() && i > 0 && std::holds_alternative<ir::Counter>(r.steps[i])) return true;
    const auto* m = std::get_if<ir::Match>(&r.steps[i]);
    if (!m || uses_random(*m)) return false;
  }
  return true;
}

bool counts(const ir::Rule& r) { return !r.steps.empty() && std::holds_alternative<ir::Counter>(r.steps.back()); }

// `field == value` (optionally masked) on one field: what a run varies.
const ir::Match* candidate(const ir::Step& s) {
  const auto* m = std::get_if<ir::Match>(&s);
  if (!m || m->op != ir::Op::kEq || m->key.size() != 1) return nullptr;
  uint32_t len = m->key[0].len;
  if (len == 0 || m->value.size() != len || (m->mask && m->mask->size() != len)) return nullptr;
  return m;
}

// prefix_bits (masks.h) where an absent mask is the whole field.
std::optional<uint32_t> prefix_bits(const std::optional<Bytes>& mask, uint32_t len) {
  return mask ? passes::prefix_bits(*mask) : std::optional<uint32_t>(len * 8);
}

Bytes masked(const Bytes& v, const std::optional<Bytes>& mask) {
  Bytes out = v;
  if (mask)
    for (size_t i = 0; i < out.size(); ++i) out[i] &= (*mask)[i];
  return out;
}

// Whether `(field & mask) == value` can hold at all (value bits outside the mask never do).
bool satisfiable(const ir::Match& m) { return masked(m.value, m.mask) == m.value; }

bool same_except(const ir::Rule& a, const ir::Rule& b, size_t k) {
  if (a.steps.size() != b.steps.size()) return false;
  for (size_t i = 0; i < a.steps.size(); ++i)
    if (i != k && !(a.steps[i] == b.steps[i])) return false;
  return true;
}

// The position where two rules of the same shape differ, when there is exactly one.
std::optional<size_t> single_difference(const ir::Rule& a, const ir::Rule& b) {
  if (a.steps.size() != b.steps.size()) return std::nullopt;
  std::optional<size_t> k;
  for (size_t i = 0; i < a.steps.size(); ++i) {
    if (a.steps[i] == b.steps[i]) continue;
    if (k) return std::nullopt;
    k = i;
  }
  return k;
}

bool may_merge_verdict(const ir::Verdict& v) { return v.kind != ir::VerdictKind::kContinue; }

// A run found at rules[begin, end): position k varies.
struct Run {
  size_t begin = 0, end = 0, k = 0;
  bool interval = false;          // prefixes of different lengths: an LPM set
  std::optional<Bytes> mask;      // hash mode: the mask every rule shares
};

// The longest run starting at `begin` (end == begin + 1 when none).
Run find_run(const std::vector<ir::Rule>& rules, size_t begin) {
  Run run{begin, begin + 1, 0, false, std::nullopt};
  const ir::Rule& first = rules[begin];
  if (!pure(first) || !may_merge_verdict(first.verdict)) return run;
  // Which position varies: the first rule that differs from `first` says (identical copies of
  // `first` before it belong to the run whatever k is).
  std::optional<size_t> k;
  for (size_t j = begin + 1; j < rules.size() && !k; ++j) {
    const ir::Rule& r = rules[j];
    if (!(r.verdict == first.verdict) || !pure(r)) return run;
    if (r.steps == first.steps) continue;
    k = single_difference(first, r);
    if (!k) return run;
  }
  if (!k) return run;
  const ir::Match* m0 = candidate(first.steps[*k]);
  if (!m0) return run;
  const ir::Field& field = m0->key[0];
  run.k = *k;
  run.mask = m0->mask;
  size_t end = begin + 1;
  for (; end < rules.size(); ++end) {
    const ir::Rule& r = rules[end];
    if (!(r.verdict == first.verdict) || !pure(r) || !same_except(first, r, *k)) break;
    const ir::Match* m = candidate(r.steps[*k]);
    if (!m || !(m->key[0] == field)) break;
    if (!run.interval && m->mask == run.mask) continue;
    // Different masks: only prefixes of a network-order field mix (an interval set).
    if (field.host_order || !prefix_bits(m->mask, field.len) || !prefix_bits(run.mask, field.len)) break;
    run.interval = true;
  }
  run.end = end;
  if (run.interval) run.mask.reset();
  return run;
}

struct Interval {
  Bytes lo, hi;
  size_t rule = 0;  // index in the chain
};

Interval interval_of(const ir::Match& m) {
  Interval iv{masked(m.value, m.mask), masked(m.value, m.mask)};
  if (m.mask)
    for (size_t i = 0; i < iv.hi.size(); ++i) iv.hi[i] |= static_cast<uint8_t>(~(*m.mask)[i]);
  return iv;
}

// The run's set, or nullopt when it must stay linear (a jump whose values overlap).
std::optional<ir::Set> set_for(const std::vector<ir::Rule>& rules, const Run& run, std::string name) {
  const ir::Field& field = std::get<ir::Match>(rules[run.begin].steps[run.k]).key[0];
  // A jump (the only non-terminal verdict merged) returns and would go on with the run: merge
  // only when no packet matches two of its rules. A counting run whose prefixes nest would count
  // for the outer prefix where the kernel counts the first rule: disjoint too. (Exact duplicates
  // are fine: the first one's index is kept, and it is the first rule that matches.)
  bool counting = counts(rules[run.begin]);
  bool must_be_disjoint = rules[run.begin].verdict.kind == ir::VerdictKind::kJump || (counting && run.interval);
  ir::Set s{.name = std::move(name),
            .flags = ir::kSetAnonymous | ir::kSetConstant | (run.interval ? uint32_t{ir::kSetInterval} : 0u) |
                     (counting ? uint32_t{ir::kSetMap} : 0u),
            .key_parts = {field.len},
            .key_len = field.len,
            .data_len = counting ? 4u : 0u};
  // Counting runs: each element's data is the index in the run of the rule it came from.
  auto data = [&](size_t j) {
    uint32_t idx = static_cast<uint32_t>(j - run.begin);
    ir::Bytes d(4);
    std::memcpy(d.data(), &idx, 4);
    return counting ? d : ir::Bytes{};
  };
  if (!run.interval) {
    std::set<Bytes> seen;
    for (size_t j = run.begin; j < run.end; ++j) {
      const auto& m = std::get<ir::Match>(rules[j].steps[run.k]);
      if (!satisfiable(m)) continue;  // never matches: no element
      if (!seen.insert(m.value).second) {
        if (must_be_disjoint) return std::nullopt;
        continue;
      }
      s.elements.push_back(ir::Element{.key = m.value, .data = data(j)});
    }
    return s;
  }
  std::vector<Interval> ivs;
  for (size_t j = run.begin; j < run.end; ++j) {
    const auto& m = std::get<ir::Match>(rules[j].steps[run.k]);
    if (!satisfiable(m)) continue;
    Interval iv = interval_of(m);
    iv.rule = j;
    ivs.push_back(std::move(iv));
  }
  std::sort(ivs.begin(), ivs.end(), [](const Interval& a, const Interval& b) {
    if (a.lo != b.lo) return a.lo < b.lo;
    return a.hi > b.hi;  // the wider of two prefixes with one start first
  });
  // Prefixes are nested or disjoint: keep the outermost of each nest (membership is the same).
  for (const auto& iv : ivs) {
    if (!s.elements.empty() && iv.lo <= s.elements.back().key_end) {
      if (must_be_disjoint) return std::nullopt;
      continue;
    }
    s.elements.push_back(ir::Element{.key = iv.lo, .key_end = iv.hi, .data = data(iv.rule)});
  }
  return s;
}

std::string fresh_name(const ir::Table& t, size_t& counter) {
  for (;;) {
    std::string name = fmt::format("{}{}", kRunSetPrefix, counter++);
    if (!ir::find_set(t, name)) return name;
  }
}

}  // namespace

Result<MergeStats> merge_runs(ir::Table& table, const MergeOptions& opt) {
  MergeStats stats;
  size_t counter = 0;
  size_t min_run = std::max<size_t>(opt.min_run, 2);
  for (auto& chain : table.chains) {
    if (chain.rules.size() < min_run) continue;
    std::vector<ir::Rule> out;
    out.reserve(chain.rules.size());
    for (size_t i = 0; i < chain.rules.size();) {
      Run run = find_run(chain.rules, i);
      std::optional<ir::Set> set;
      if (run.end - run.begin >= min_run) set = set_for(chain.rules, run, fresh_name(table, counter));
      if (!set) {
        // Rules of a run that stays linear cannot start a longer run of the same shape: go on
        // after it (linear time).
        for (; i < run.end; ++i) out.push_back(std::move(chain.rules[i]));
        continue;
      }
      ir::Rule merged = std::move(chain.rules[run.begin]);
      auto& m = std::get<ir::Match>(merged.steps[run.k]);
      merged.steps[run.k] = ir::Match{.key = m.key, .mask = run.mask, .op = ir::Op::kInSet, .set = set->name};
      merged.comment.clear();
      if (counts(merged)) {
        ir::Rule::MergedRun mr{.lookup_step = static_cast<uint32_t>(run.k), .handles = {}};
        for (size_t j = run.begin; j < run.end; ++j) mr.handles.push_back(j == run.begin ? merged.handle : chain.rules[j].handle);
        merged.merged = std::move(mr);
      }
      out.push_back(std::move(merged));
      table.sets.push_back(std::move(*set));
      ++stats.runs;
      stats.rules_merged += run.end - run.begin;
      i = run.end;
    }
    chain.rules = std::move(out);
  }
  return stats;
}

}  // namespace nfbpf::translate::passes
