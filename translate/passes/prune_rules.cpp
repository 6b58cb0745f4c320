#include "translate/passes/prune_rules.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

#include "translate/passes/value_domain.h"

namespace nfbpf::translate::passes {

namespace {

using ir::Bytes;

// The field without its informational protocol name (codegen reads by base/offset/len).
ir::Field load_of(ir::Field f) {
  f.proto = ir::Proto::kRaw;
  return f;
}

void append(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }

std::string field_key(const ir::Field& f0) {
  ir::Field f = load_of(f0);
  std::string k;
  uint8_t b[] = {static_cast<uint8_t>(f.base), f.key, static_cast<uint8_t>(f.dir), f.host_order, f.ext_type, f.ext_present};
  append(k, b, sizeof b);
  append(k, &f.offset, sizeof f.offset);
  append(k, &f.len, sizeof f.len);
  return k;
}

std::string bytes_key(const Bytes& v) {
  std::string k = std::to_string(v.size()) + ":";
  append(k, v.data(), v.size());
  return k;
}

std::string match_key(const ir::Match& m) {
  std::string k;
  for (const auto& f : m.key) k += field_key(f) + "|";
  k += m.mask ? "m" + bytes_key(*m.mask) : "-";
  k += static_cast<char>(m.op);
  k += bytes_key(m.value) + bytes_key(m.value_hi) + m.set;
  return k;
}

// Big-endian (byte-wise) ordering: the one in which a prefix mask selects an interval.
bool bytewise(const ir::Field& f) { return !(f.host_order && f.len <= 8); }

std::optional<uint32_t> prefix_bits(const Bytes& mask) {
  uint32_t bits = 0;
  bool zeros = false;
  for (uint8_t b : mask)
    for (int i = 7; i >= 0; --i) {
      bool one = (b >> i) & 1;
      if (one && zeros) return std::nullopt;
      if (one) ++bits;
      else zeros = true;
    }
  return bits;
}

bool outside_mask(const Bytes& v, const Bytes& mask) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] & ~mask[i]) return true;
  return false;
}

// The compares of one rule, per (field, mask).
class Constraints {
 public:
  // false once the matches seen so far can no longer all hold.
  bool add(const ir::Table& t, const ir::Match& m) {
    if (m.op == ir::Op::kInSet) {
      const ir::Set* s = ir::find_set(t, m.set);
      return !(s && (s->flags & ir::kSetConstant) && s->elements.empty() && !s->catchall);
    }
    if (m.key.size() != 1 || m.op == ir::Op::kNotInSet) return true;
    const ir::Field& f = m.key[0];
    auto v = to_number(f, m.value);
    if (!v) return true;
    Number hi = 0;
    if (m.op == ir::Op::kRange || m.op == ir::Op::kNotRange) {
      auto h = to_number(f, m.value_hi);
      if (!h) return true;
      hi = *h;
    }
    if (!m.mask) return restrict(field_key(f), f.len, m.op, *v, hi);
    if (m.mask->size() != f.len) return true;
    const Bytes& mask = *m.mask;
    bool eq_or_ne = m.op == ir::Op::kEq || m.op == ir::Op::kNe;
    if (eq_or_ne && outside_mask(m.value, mask)) return m.op == ir::Op::kNe;  // == never holds, != always
    if (eq_or_ne && bytewise(f) && prefix_bits(mask)) {
      // (x & prefix) == v  ⇔  v <= x <= v | ~prefix: an interval of the unmasked field.
      Bytes top = m.value;
      for (size_t i = 0; i < top.size(); ++i) top[i] |= static_cast<uint8_t>(~mask[i]);
      return restrict(field_key(f), f.len, m.op == ir::Op::kEq ? ir::Op::kRange : ir::Op::kNotRange, *v,
                      *to_number(f, top));
    }
    return restrict(field_key(f) + bytes_key(mask), f.len, m.op, *v, hi);
  }

 private:
  bool restrict(const std::string& key, uint32_t len, ir::Op op, Number v, Number hi) {
    auto it = domains_.try_emplace(key, len).first;
    it->second.restrict(op, v, hi);
    return !it->second.empty();
  }
  std::map<std::string, ValueDomain> domains_;
};

// Steps that always hold and change nothing a match reads.
bool passive_statement(const ir::Step& s) {
  if (std::holds_alternative<ir::Counter>(s) || std::holds_alternative<ir::Log>(s)) return true;
  const auto* o = std::get_if<ir::ObjectRef>(&s);
  return o && o->kind == "counter";
}

bool ends_chain(const ir::Verdict& v) {
  using K = ir::VerdictKind;
  return v.kind == K::kAccept || v.kind == K::kDrop || v.kind == K::kReturn || v.kind == K::kGoto;
}

// A rule that applies its verdict to every packet that reaches it.
bool unconditional(const ir::Rule& r) {
  for (const auto& s : r.steps)
    if (!passive_statement(s) && !std::holds_alternative<ir::SetMark>(s)) return false;
  return true;
}

// Keys whose value may differ between two rules run on the same packet.
bool volatile_match(const ir::Match& m) {
  using K = ir::MetaKey;
  for (const auto& f : m.key) {
    if (f.base != ir::Base::kMeta) continue;
    auto k = static_cast<K>(f.key);
    if (k == K::kRandom || k == K::kTime || k == K::kDay || k == K::kHour) return true;
  }
  return false;
}

// The matches of a guard (a rule that shadows later ones), or nullopt when it is none.
std::optional<std::vector<const ir::Match*>> guard_matches(const ir::Rule& r) {
  if (!ends_chain(r.verdict) || r.merged) return std::nullopt;
  std::vector<const ir::Match*> out;
  for (const auto& s : r.steps) {
    if (passive_statement(s)) continue;
    const auto* m = std::get_if<ir::Match>(&s);
    if (!m || volatile_match(*m)) return std::nullopt;
    out.push_back(m);
  }
  if (out.empty()) return std::nullopt;  // unconditional: handled as such
  return out;
}

// Whether, after the rule, a match may read something other than before (a mark set, registers,
// or a chain it may call).
bool changes_state(const ir::Rule& r) {
  if (r.merged || r.verdict.kind == ir::VerdictKind::kJump) return true;
  for (const auto& s : r.steps)
    if (std::holds_alternative<ir::SetMark>(s) || std::holds_alternative<ir::RegisterBlock>(s) ||
        std::holds_alternative<ir::VerdictMap>(s))
      return true;
  return false;
}

// Matches before the rule's first statement: what must hold before it does anything.
std::vector<const ir::Match*> leading_matches(const ir::Rule& r) {
  std::vector<const ir::Match*> out;
  for (const auto& s : r.steps) {
    const auto* m = std::get_if<ir::Match>(&s);
    if (!m) break;
    out.push_back(m);
  }
  return out;
}

class ShadowIndex {
 public:
  void clear() {
    by_last_.clear();
    guards_.clear();
  }
  void add(std::vector<const ir::Match*> g) {
    std::vector<std::string> keys;
    for (const auto* m : g) keys.push_back(match_key(*m));
    by_last_[keys.back()].push_back(guards_.size());
    guards_.push_back(std::move(keys));
  }
  bool shadows(const std::vector<const ir::Match*>& lead) const {
    if (guards_.empty() || lead.empty()) return false;
    std::vector<std::string> keys;
    for (const auto* m : lead) keys.push_back(match_key(*m));
    for (const auto& k : keys) {
      auto it = by_last_.find(k);
      if (it == by_last_.end()) continue;
      size_t tried = 0;
      for (auto g = it->second.rbegin(); g != it->second.rend() && tried < kShadowCandidates; ++g, ++tried)
        if (covered(guards_[*g], keys)) return true;
    }
    return false;
  }

 private:
  static bool covered(const std::vector<std::string>& guard, const std::vector<std::string>& lead) {
    for (const auto& k : guard)
      if (std::find(lead.begin(), lead.end(), k) == lead.end()) return false;
    return true;
  }
  std::unordered_map<std::string, std::vector<size_t>> by_last_;
  std::vector<std::vector<std::string>> guards_;
};

}  // namespace

bool impossible(const ir::Table& table, const ir::Rule& rule) {
  if (rule.merged) return false;
  Constraints c;
  for (const auto& s : rule.steps) {
    const auto* m = std::get_if<ir::Match>(&s);
    if (!m) return false;  // a statement runs before any contradiction: the rule stays
    if (!c.add(table, *m)) return true;
  }
  return false;
}

Result<PruneStats> prune_rules(ir::Table& table) {
  PruneStats stats;
  for (auto& chain : table.chains) {
    std::vector<ir::Rule> kept;
    kept.reserve(chain.rules.size());
    ShadowIndex shadow;
    bool ended = false;
    for (auto& r : chain.rules) {
      if (ended) {
        ++stats.unreachable;
        continue;
      }
      if (impossible(table, r)) {
        ++stats.impossible;
        continue;
      }
      if (!r.merged && shadow.shadows(leading_matches(r))) {
        ++stats.shadowed;
        continue;
      }
      if (changes_state(r)) shadow.clear();
      if (auto g = guard_matches(r)) shadow.add(std::move(*g));
      if (!r.merged && ends_chain(r.verdict) && unconditional(r)) ended = true;
      kept.push_back(std::move(r));
    }
    chain.rules = std::move(kept);
  }
  return stats;
}

}  // namespace nfbpf::translate::passes
