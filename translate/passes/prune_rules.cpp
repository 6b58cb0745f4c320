#include "translate/passes/prune_rules.h"

#include <algorithm>
#include <unordered_map>

#include "translate/passes/masks.h"
#include "translate/passes/value_domain.h"

namespace nfbpf::translate::passes {

namespace {

using ir::Bytes;

// The field without its informational protocol name (codegen reads by base/offset/len).
ir::Field load_of(ir::Field f) {
  f.proto = ir::Proto::kRaw;
  return f;
}

// FNV-1a over the bytes that make a match: equal matches hash equally.
class Hasher {
 public:
  void bytes(const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
  }
  template <typename T>
  void value(const T& v) { bytes(&v, sizeof v); }
  void vec(const Bytes& v) {
    value(v.size());
    bytes(v.data(), v.size());
  }
  size_t get() const { return h_; }

 private:
  size_t h_ = 1469598103934665603ull;
};

size_t match_hash(const ir::Match& m) {
  Hasher h;
  for (const auto& f : m.key) {
    h.value(f.base);
    h.value(f.offset);
    h.value(f.len);
    h.value(f.key);
    h.value(f.dir);
  }
  h.value(m.op);
  if (m.mask) h.vec(*m.mask);
  h.vec(m.value);
  h.vec(m.value_hi);
  h.bytes(m.set.data(), m.set.size());
  return h.get();
}


bool outside_mask(const Bytes& v, const Bytes& mask) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] & ~mask[i]) return true;
  return false;
}

// The compares of one rule, per loaded field and mask (none, or a mask that is not a prefix).
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
    if (!m.mask) return restrict(f, std::nullopt, m.op, *v, hi);
    if (m.mask->size() != f.len) return true;
    const Bytes& mask = *m.mask;
    bool eq_or_ne = m.op == ir::Op::kEq || m.op == ir::Op::kNe;
    if (eq_or_ne && outside_mask(m.value, mask)) return m.op == ir::Op::kNe;  // == never holds, != always
    if (eq_or_ne && bytewise(f) && prefix_bits(mask)) {
      // (x & prefix) == v  ⇔  v <= x <= v | ~prefix: an interval of the unmasked field.
      Bytes top = m.value;
      for (size_t i = 0; i < top.size(); ++i) top[i] |= static_cast<uint8_t>(~mask[i]);
      return restrict(f, std::nullopt, m.op == ir::Op::kEq ? ir::Op::kRange : ir::Op::kNotRange, *v,
                      *to_number(f, top));
    }
    return restrict(f, mask, m.op, *v, hi);
  }

 private:
  struct Domain {
    ir::Field field;
    std::optional<Bytes> mask;
    ValueDomain values;
  };
  bool restrict(const ir::Field& f0, const std::optional<Bytes>& mask, ir::Op op, Number v, Number hi) {
    ir::Field f = load_of(f0);
    auto it = std::find_if(domains_.begin(), domains_.end(), [&](const Domain& d) { return d.field == f && d.mask == mask; });
    if (it == domains_.end()) it = domains_.insert(domains_.end(), Domain{f, mask, ValueDomain(f.len)});
    it->values.restrict(op, v, hi);
    return !it->values.empty();
  }
  std::vector<Domain> domains_;  // a rule tests few fields: a linear search beats a map
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

// Guards seen since the last state change, found through a hash of their last match. Pointers
// point into the chain's rules, which do not move while the chain is scanned.
class ShadowIndex {
 public:
  void clear() {
    by_last_.clear();
    guards_.clear();
  }
  void add(std::vector<const ir::Match*> g) {
    by_last_[match_hash(*g.back())].push_back(guards_.size());
    guards_.push_back(std::move(g));
  }
  bool shadows(const std::vector<const ir::Match*>& lead) const {
    if (guards_.empty() || lead.empty()) return false;
    for (const auto* m : lead) {
      auto it = by_last_.find(match_hash(*m));
      if (it == by_last_.end()) continue;
      size_t tried = 0;
      for (auto g = it->second.rbegin(); g != it->second.rend() && tried < kShadowCandidates; ++g, ++tried)
        if (covered(guards_[*g], lead)) return true;
    }
    return false;
  }

 private:
  static bool covered(const std::vector<const ir::Match*>& guard, const std::vector<const ir::Match*>& lead) {
    for (const auto* g : guard)
      if (std::none_of(lead.begin(), lead.end(), [&](const ir::Match* m) { return *m == *g; })) return false;
    return true;
  }
  std::unordered_map<size_t, std::vector<size_t>> by_last_;
  std::vector<std::vector<const ir::Match*>> guards_;
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
    // First decide (the rules stay in place: the shadow index points into them), then keep.
    std::vector<bool> keep(chain.rules.size(), true);
    ShadowIndex shadow;
    bool ended = false;
    for (size_t i = 0; i < chain.rules.size(); ++i) {
      const ir::Rule& r = chain.rules[i];
      if (ended) {
        ++stats.unreachable;
        keep[i] = false;
        continue;
      }
      if (impossible(table, r)) {
        ++stats.impossible;
        keep[i] = false;
        continue;
      }
      if (!r.merged && shadow.shadows(leading_matches(r))) {
        ++stats.shadowed;
        keep[i] = false;
        continue;
      }
      if (changes_state(r)) shadow.clear();
      if (auto g = guard_matches(r)) shadow.add(std::move(*g));
      if (!r.merged && ends_chain(r.verdict) && unconditional(r)) ended = true;
    }
    if (std::find(keep.begin(), keep.end(), false) == keep.end()) continue;
    std::vector<ir::Rule> kept;
    kept.reserve(chain.rules.size());
    for (size_t i = 0; i < chain.rules.size(); ++i)
      if (keep[i]) kept.push_back(std::move(chain.rules[i]));
    chain.rules = std::move(kept);
  }
  return stats;
}

}  // namespace nfbpf::translate::passes
