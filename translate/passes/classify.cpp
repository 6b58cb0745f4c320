#include "translate/passes/classify.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "translate/passes/masks.h"

namespace nfbpf::translate::passes {

namespace {

ir::Field load_of(ir::Field f) {
  f.proto = ir::Proto::kRaw;  // informational only: one load whatever header it was named for
  return f;
}

Number max_of(uint32_t len) { return len >= 16 ? ~Number{0} : (Number{1} << (8 * len)) - 1; }


bool volatile_key(const ir::Field& f) {
  using K = ir::MetaKey;
  if (f.base != ir::Base::kMeta) return false;
  auto k = static_cast<K>(f.key);
  return k == K::kRandom || k == K::kTime || k == K::kDay || k == K::kHour;
}

// A single-field compare as (op, lo, hi) on the unmasked field, or nullopt.
struct Compare {
  ir::Field field;
  ir::Op op;
  Number lo = 0, hi = 0;
};
std::optional<Compare> compare_of(const ir::Match& m) {
  if (m.key.size() != 1 || m.op == ir::Op::kInSet || m.op == ir::Op::kNotInSet) return std::nullopt;
  const ir::Field& f = m.key[0];
  if (volatile_key(f)) return std::nullopt;
  auto v = to_number(f, m.value);
  if (!v) return std::nullopt;
  Compare c{load_of(f), m.op, *v, 0};
  if (m.op == ir::Op::kRange || m.op == ir::Op::kNotRange) {
    auto h = to_number(f, m.value_hi);
    if (!h) return std::nullopt;
    c.hi = *h;
  }
  if (!m.mask) return c;
  // (x & prefix) == v  ⇔  v <= x <= v | ~prefix
  if ((m.op != ir::Op::kEq && m.op != ir::Op::kNe) || !bytewise(f) || m.mask->size() != f.len) return std::nullopt;
  auto bits = prefix_bits(*m.mask);
  if (!bits) return std::nullopt;
  Number host_bits = (*bits >= 8 * f.len) ? 0 : (max_of(f.len) >> *bits);
  if (c.lo & host_bits) {  // a value bit outside the mask: == never holds, != always
    c.op = m.op == ir::Op::kEq ? ir::Op::kRange : ir::Op::kNotRange;
    c.lo = 1;
    c.hi = 0;
    return c;
  }
  c.op = m.op == ir::Op::kEq ? ir::Op::kRange : ir::Op::kNotRange;
  c.hi = c.lo | host_bits;
  return c;
}

// The values each tested field may take for one rule (fields in first-seen order).
using RuleDomains = std::vector<std::pair<ir::Field, ValueDomain>>;

std::optional<RuleDomains> domains_of(const ir::Rule& r) {
  RuleDomains out;
  for (const auto& s : r.steps) {
    const auto* m = std::get_if<ir::Match>(&s);
    if (!m) continue;  // the Counter (classifiable() checked the shape)
    auto c = compare_of(*m);
    if (!c) return std::nullopt;
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == c->field; });
    if (it == out.end()) {
      out.emplace_back(c->field, ValueDomain(c->field.len));
      it = std::prev(out.end());
    }
    it->second.restrict(c->op, c->lo, c->hi);
  }
  return out;
}

size_t match_count(const ir::Rule& r) {
  return static_cast<size_t>(
      std::count_if(r.steps.begin(), r.steps.end(), [](const ir::Step& s) { return std::holds_alternative<ir::Match>(s); }));
}

}  // namespace

Bitmap Bitmap::all(size_t bits) {
  Bitmap b(bits);
  for (size_t i = 0; i < bits; ++i) b.set(i);
  return b;
}

Bitmap& Bitmap::operator&=(const Bitmap& o) {
  for (size_t i = 0; i < words_.size() && i < o.words_.size(); ++i) words_[i] &= o.words_[i];
  return *this;
}

std::optional<size_t> Bitmap::lowest() const {
  for (size_t i = 0; i < words_.size(); ++i)
    if (words_[i]) return i * 64 + static_cast<size_t>(__builtin_ctzll(words_[i]));
  return std::nullopt;
}

const Bitmap& FieldTable::lookup(Number v) const {
  auto it = std::upper_bound(segments.begin(), segments.end(), v, [](Number x, const Segment& s) { return x < s.lo; });
  return std::prev(it)->rules;  // segments start at 0: never begin()
}

std::vector<FieldTable::Prefix> FieldTable::lpm_entries() const {
  const uint32_t width = 8 * field.len;
  const Number max = max_of(field.len);
  std::vector<Prefix> out;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].rules == wildcard) continue;
    Number lo = segments[i].lo, hi = segments[i].hi;
    for (;;) {
      // The largest aligned block starting at lo that stays within [lo, hi].
      uint32_t k = 0;
      while (k < width) {
        bool fits = false;
        if (k + 1 == width) {
          fits = lo == 0 && hi == max;  // the whole space (no shift by the full width)
        } else {
          Number size = Number{1} << (k + 1);
          fits = (lo & (size - 1)) == 0 && lo + size - 1 <= hi;
        }
        if (!fits) break;
        ++k;
      }
      Number last = (k == width) ? max : lo + ((Number{1} << k) - 1);
      out.push_back(Prefix{lo, width - k, i});
      if (last >= hi) break;
      lo = last + 1;
    }
  }
  return out;
}

std::optional<size_t> Classifier::first_match(const Loader& load) const {
  Bitmap acc = Bitmap::all(rules);
  for (const auto& f : fields) {
    auto bytes = load(f.field);
    auto v = bytes ? to_number(f.field, *bytes) : std::nullopt;
    acc &= v ? f.lookup(*v) : f.wildcard;
  }
  return acc.lowest();
}

bool classifiable(const ir::Rule& r) {
  using K = ir::VerdictKind;
  if (r.merged || !(r.verdict.kind == K::kAccept || r.verdict.kind == K::kDrop || r.verdict.kind == K::kReturn))
    return false;
  // Trailing counters: at most two (nfbpf verify puts one after every rule's matches).
  size_t end = r.steps.size();
  for (size_t k = 0; k < kMaxClassifiedCounters && end > 0 && std::holds_alternative<ir::Counter>(r.steps[end - 1]); ++k) --end;
  for (size_t i = 0; i < end; ++i) {
    const auto* m = std::get_if<ir::Match>(&r.steps[i]);
    if (!m || !compare_of(*m)) return false;
    // Tables of host-order fields are hash maps (an LPM trie orders bytes big-endian).
    if (!bytewise(m->key[0]) && m->key[0].len > 1 && (m->op != ir::Op::kEq || m->mask)) return false;
  }
  return true;
}

Result<Classifier> build_classifier(std::span<const ir::Rule> rules) {
  if (rules.size() > kMaxClassifiedRules)
    return failf(E2BIG, "a classified block holds at most {} rules, not {}", kMaxClassifiedRules, rules.size());
  const size_t n = rules.size();
  std::vector<RuleDomains> doms;
  std::vector<ir::Field> order;       // fields, first-seen order
  std::vector<ir::Field> named;       // the same, as the first rule named them
  for (size_t i = 0; i < n; ++i) {
    if (!classifiable(rules[i])) return failf(EINVAL, "rule {} of the block is not classifiable", rules[i].handle);
    auto d = domains_of(rules[i]);
    if (!d) return failf(EINVAL, "rule {}: a compare without a value domain", rules[i].handle);
    for (const auto& [f, _] : *d)
      if (std::find(order.begin(), order.end(), f) == order.end()) {
        order.push_back(f);
        for (const auto& s : rules[i].steps)
          if (const auto* m = std::get_if<ir::Match>(&s); m && load_of(m->key[0]) == f) {
            named.push_back(m->key[0]);
            break;
          }
      }
    doms.push_back(std::move(*d));
  }
  Classifier c;
  c.rules = n;
  for (size_t fi = 0; fi < order.size(); ++fi) {
    const ir::Field& f = order[fi];
    const Number max = max_of(f.len);
    FieldTable t{.field = named[fi], .segments = {}, .wildcard = Bitmap(n)};
    // Sweep the value space: at each point, rules start or stop covering it.
    std::map<Number, std::vector<std::pair<size_t, int>>> events;
    events[0];
    for (size_t r = 0; r < n; ++r) {
      auto it = std::find_if(doms[r].begin(), doms[r].end(), [&](const auto& p) { return p.first == f; });
      if (it == doms[r].end()) {
        t.wildcard.set(r);
        continue;
      }
      const auto& ivs = it->second.intervals();
      if (ivs.size() != 1 || ivs[0].lo != ivs[0].hi) t.exact_only = false;
      for (const auto& iv : ivs) {
        events[iv.lo].push_back({r, +1});
        if (iv.hi < max) events[iv.hi + 1].push_back({r, -1});
      }
    }
    std::vector<int> cover(n, 0);
    Bitmap active = t.wildcard;
    for (auto e = events.begin(); e != events.end(); ++e) {
      for (auto [r, d] : e->second) {
        cover[r] += d;
        if (cover[r] > 0) active.set(r);
        else active.clear(r);
      }
      auto next = std::next(e);
      Number hi = next == events.end() ? max : next->first - 1;
      if (!t.segments.empty() && t.segments.back().rules == active) t.segments.back().hi = hi;
      else t.segments.push_back({e->first, hi, active});
    }
    c.fields.push_back(std::move(t));
  }
  return c;
}

std::vector<Block> plan_blocks(const ir::Chain& chain, const ClassifyOptions& opt) {
  std::vector<Block> out;
  const auto& rules = chain.rules;
  size_t max_rules = std::clamp<size_t>(opt.max_rules, 1, kMaxClassifiedRules);
  auto consider = [&](size_t begin, size_t end) {
    std::vector<ir::Field> fields;
    size_t matches = 0;
    for (size_t i = begin; i < end; ++i) {
      matches += match_count(rules[i]);
      for (const auto& s : rules[i].steps)
        if (const auto* m = std::get_if<ir::Match>(&s)) {
          ir::Field f = load_of(m->key[0]);
          if (std::find(fields.begin(), fields.end(), f) == fields.end()) fields.push_back(f);
        }
    }
    bool cheaper = static_cast<double>(fields.size()) * opt.lookup_ns < static_cast<double>(matches) * opt.compare_ns;
    if (end - begin >= opt.min_rules && fields.size() >= opt.min_fields && fields.size() <= opt.max_fields && cheaper)
      out.push_back(Block{begin, end, fields.size()});
  };
  for (size_t i = 0; i < rules.size();) {
    if (!classifiable(rules[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < rules.size() && classifiable(rules[j])) ++j;
    for (size_t b = i; b < j; b += max_rules) consider(b, std::min(j, b + max_rules));
    i = j;
  }
  return out;
}

namespace {

// A value of the field in register layout (the inverse of to_number).
ir::Bytes bytes_of(const ir::Field& f, Number n) {
  ir::Bytes out(f.len);
  if (!bytewise(f)) {
    for (size_t i = 0; i < f.len; ++i, n >>= 8) out[i] = static_cast<uint8_t>(n);
  } else {
    for (size_t i = f.len; i-- > 0; n >>= 8) out[i] = static_cast<uint8_t>(n);
  }
  return out;
}

ir::Bytes bitmap_bytes(const Bitmap& b, size_t words) {
  ir::Bytes out(words * 8, 0);
  for (size_t w = 0; w < words && w < b.words().size(); ++w)
    for (size_t i = 0; i < 8; ++i) out[w * 8 + i] = static_cast<uint8_t>(b.words()[w] >> (8 * i));
  return out;
}

std::string fresh_set_name(const ir::Table& t, size_t& counter) {
  for (;;) {
    std::string name = fmt::format("{}{}", kClassifySetPrefix, counter++);
    if (!ir::find_set(t, name)) return name;
  }
}

// The data map of one field: hash when every non-wildcard segment is one value, else intervals.
std::optional<ir::Set> field_set(const FieldTable& t, size_t words, std::string name) {
  bool exact = t.exact_only;
  for (const auto& s : t.segments)
    if (!(s.rules == t.wildcard) && s.lo != s.hi) exact = false;
  if (!exact && !bytewise(t.field) && t.field.len > 1) return std::nullopt;  // classifiable() keeps these out
  ir::Set set{.name = std::move(name),
              .flags = ir::kSetAnonymous | ir::kSetConstant | ir::kSetMap | (exact ? 0u : uint32_t{ir::kSetInterval}),
              .key_parts = {t.field.len},
              .key_len = t.field.len,
              .data_len = static_cast<uint32_t>(words * 8)};
  for (const auto& s : t.segments) {
    if (s.rules == t.wildcard) continue;
    ir::Element e{.key = bytes_of(t.field, s.lo), .data = bitmap_bytes(s.rules, words)};
    if (!exact) e.key_end = bytes_of(t.field, s.hi);
    set.elements.push_back(std::move(e));
  }
  return set;
}

}  // namespace

namespace {

// nft loads only the bytes a prefix needs: `ip saddr 10.1.2.0/24` is a 3-byte load at offset 12,
// `ip saddr 10.1.2.3` a 4-byte one, and as two fields a block would need a lookup for each. A
// compare of the leading bytes of an aligned 4-byte word of the first 20 network bytes is the
// same test as a prefix-masked compare of the whole word: every network header an ip, ip6 or
// inet chain sees (IPv4 or IPv6) holds those 20 bytes, so the wider load never breaks where the
// narrow one held.
void widen_network_prefix(ir::Step& step) {
  auto* m = std::get_if<ir::Match>(&step);
  if (!m || m->key.size() != 1 || (m->op != ir::Op::kEq && m->op != ir::Op::kNe)) return;
  ir::Field& f = m->key[0];
  if (f.base != ir::Base::kNetwork || !bytewise(f) || f.len == 0 || f.len >= 4 || f.offset % 4 != 0 || f.offset + 4 > 20)
    return;
  if (m->value.size() != f.len || (m->mask && m->mask->size() != f.len)) return;
  ir::Bytes mask(4, 0), value(4, 0);
  for (size_t i = 0; i < f.len; ++i) {
    mask[i] = m->mask ? (*m->mask)[i] : 0xff;
    value[i] = m->value[i];
  }
  f.len = 4;
  m->mask = std::move(mask);
  m->value = std::move(value);
}

}  // namespace

Result<ClassifyStats> classify_rules(ir::Table& table, const ClassifyOptions& opt) {
  ClassifyStats stats;
  size_t counter = 0;
  size_t maps_left = opt.max_field_maps > table.sets.size() ? opt.max_field_maps - table.sets.size() : 0;
  const bool widen = table.family == ir::Family::kIp || table.family == ir::Family::kIp6 || table.family == ir::Family::kInet;
  for (auto& chain : table.chains) {
    // Blocks are planned on widened copies; the rules of a classified block are replaced by them
    // (the same tests), the others stay as they were.
    ir::Chain wide{.name = chain.name, .rules = chain.rules};
    if (widen)
      for (auto& r : wide.rules)
        for (auto& st : r.steps) widen_network_prefix(st);
    for (const Block& b : plan_blocks(wide, opt)) {
      if (b.fields > maps_left) return stats;
      auto c = build_classifier(std::span<const ir::Rule>(wide.rules).subspan(b.begin, b.end - b.begin));
      if (!c) return std::unexpected(std::move(c).error().with_context("classifying chain " + chain.name));
      const size_t words = (c->rules + 63) / 64;
      ir::Rule::Classified form{.rules = static_cast<uint32_t>(c->rules), .words = static_cast<uint32_t>(words), .fields = {}};
      std::vector<ir::Set> sets;
      for (const FieldTable& t : c->fields) {
        auto s = field_set(t, words, fresh_set_name(table, counter));
        if (!s) break;
        form.fields.push_back({t.field, s->name, bitmap_bytes(t.wildcard, words)});
        sets.push_back(std::move(*s));
      }
      if (sets.size() != c->fields.size()) continue;
      for (auto& s : sets) table.sets.push_back(std::move(s));
      for (size_t i = b.begin; i < b.end; ++i) chain.rules[i].steps = std::move(wide.rules[i].steps);
      maps_left -= b.fields;
      chain.rules[b.begin].classified = std::move(form);
      ++stats.blocks;
      stats.rules += b.end - b.begin;
    }
  }
  return stats;
}

}  // namespace nfbpf::translate::passes
