#include "translate/ir/validate.h"

#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "translate/ir/build.h"
#include "translate/ir/fields.h"

namespace nfbpf::ir {

namespace {

bool hook_valid(Family f, Hook h) {
  switch (f) {
    case Family::kIp:
    case Family::kIp6:
      return h != Hook::kIngress && h != Hook::kEgress;
    case Family::kInet:
      return h != Hook::kEgress;  // inet ingress exists since 5.10
    case Family::kNetdev:
      return h == Hook::kIngress || h == Hook::kEgress;
    case Family::kArp:
      return h == Hook::kInput || h == Hook::kOutput || h == Hook::kForward;
    case Family::kBridge:
      return h != Hook::kIngress && h != Hook::kEgress;
    case Family::kCount:
      break;
  }
  return false;
}

Result<void> check_set_ref(const Table& t, std::string_view name, bool want_vmap, std::string_view where) {
  const Set* s = find_set(t, name);
  if (!s) return failf(ENOENT, "{}: set '{}' does not exist", where, name);
  if (want_vmap && !s->verdict_map) return failf(EINVAL, "{}: '{}' is not a verdict map", where, name);
  return {};
}

Result<void> check_match(const Table& t, const Match& m, std::string_view where) {
  if (m.key.empty()) return failf(EINVAL, "{}: match without a key", where);
  const uint32_t len = build::key_len(m.key);
  if (m.mask && m.mask->size() != len)
    return failf(EINVAL, "{}: mask is {} bytes, key is {}", where, m.mask->size(), len);
  switch (m.op) {
    case Op::kInSet:
    case Op::kNotInSet: {
      NFBPF_TRYV(check_set_ref(t, m.set, false, where));
      const Set* s = find_set(t, m.set);
      if (s->key_len != len) return failf(EINVAL, "{}: key is {} bytes, set '{}' keys are {}", where, len, m.set, s->key_len);
      return {};
    }
    case Op::kRange:
    case Op::kNotRange:
      if (m.value_hi.size() != len) return failf(EINVAL, "{}: range end is {} bytes, key is {}", where, m.value_hi.size(), len);
      [[fallthrough]];
    default:
      if (m.value.size() != len) return failf(EINVAL, "{}: value is {} bytes, key is {}", where, m.value.size(), len);
      return {};
  }
}

Result<void> check_rule(const Table& t, const Chain& c, const Rule& r) {
  const std::string where = fmt::format("chain {} rule {}", c.name, r.handle);
  for (const auto& step : r.steps) {
    if (const auto* m = std::get_if<Match>(&step)) NFBPF_TRYV(check_match(t, *m, where));
    if (const auto* v = std::get_if<VerdictMap>(&step)) NFBPF_TRYV(check_set_ref(t, v->set, true, where));
    if (const auto* b = std::get_if<RegisterBlock>(&step)) {
      for (const auto& op : b->ops)
        if (const auto* l = std::get_if<reg::Lookup>(&op)) NFBPF_TRYV(check_set_ref(t, l->set, false, where));
    }
  }
  if (r.verdict.kind == VerdictKind::kJump || r.verdict.kind == VerdictKind::kGoto) {
    const Chain* target = find_chain(t, r.verdict.chain);
    if (!target) return failf(ENOENT, "{}: jump to unknown chain '{}'", where, r.verdict.chain);
    if (target->base) return failf(EOPNOTSUPP, "{}: jump to base chain '{}'", where, r.verdict.chain);
  }
  return {};
}

// Targets a chain can jump or goto to, including through verdict maps.
std::vector<std::string> jump_targets(const Table& t, const Chain& c) {
  std::vector<std::string> out;
  for (const auto& r : c.rules) {
    if (r.verdict.kind == VerdictKind::kJump || r.verdict.kind == VerdictKind::kGoto) out.push_back(r.verdict.chain);
    for (const auto& step : r.steps) {
      const auto* v = std::get_if<VerdictMap>(&step);
      if (!v) continue;
      const Set* s = find_set(t, v->set);
      if (!s) continue;
      auto add = [&](const Element& e) {
        if (e.verdict && (e.verdict->kind == VerdictKind::kJump || e.verdict->kind == VerdictKind::kGoto))
          out.push_back(e.verdict->chain);
      };
      for (const auto& e : s->elements) add(e);
      if (s->catchall) add(*s->catchall);
    }
  }
  return out;
}

Result<void> check_loops(const Table& t) {
  // Depth-first search with colours: grey = on the current path; reaching a grey chain is a loop.
  enum Colour { kWhite, kGrey, kBlack };
  std::map<std::string, Colour, std::less<>> colour;
  std::function<Result<void>(const Chain&)> visit = [&](const Chain& c) -> Result<void> {
    colour[c.name] = kGrey;
    for (const auto& target : jump_targets(t, c)) {
      const Chain* next = find_chain(t, target);
      if (!next) continue;  // reported by check_rule
      Colour col = colour[target];
      if (col == kGrey) return failf(ELOOP, "jump loop through chain '{}'", target);
      if (col == kWhite) NFBPF_TRYV(visit(*next));
    }
    colour[c.name] = kBlack;
    return {};
  };
  for (const auto& c : t.chains)
    if (colour[c.name] == kWhite) NFBPF_TRYV(visit(c));
  return {};
}

Result<void> check_set(const Set& s) {
  for (const auto& e : s.elements) {
    if (e.key.size() != s.key_len)
      return failf(EINVAL, "set {}: element key is {} bytes, set keys are {}", s.name, e.key.size(), s.key_len);
    if (!e.key_end.empty() && !(s.flags & kSetInterval))
      return failf(EINVAL, "set {}: interval element in a non-interval set", s.name);
    if (!e.key_end.empty() && e.key_end.size() != s.key_len)
      return failf(EINVAL, "set {}: interval end is {} bytes", s.name, e.key_end.size());
    if (s.verdict_map && !e.verdict) return failf(EINVAL, "set {}: verdict map element without a verdict", s.name);
    if (s.data_len && e.data.size() != s.data_len)
      return failf(EINVAL, "set {}: element data is {} bytes, map data are {}", s.name, e.data.size(), s.data_len);
  }
  if (s.catchall && s.verdict_map && !s.catchall->verdict)
    return failf(EINVAL, "set {}: verdict map catch-all without a verdict", s.name);
  if (s.catchall && s.data_len && s.catchall->data.size() != s.data_len)
    return failf(EINVAL, "set {}: catch-all data is {} bytes, map data are {}", s.name, s.catchall->data.size(), s.data_len);
  return {};
}

}  // namespace

Result<void> validate(const Table& t) {
  const std::string where = fmt::format("table {} {}", to_string(t.family), t.name);
  auto with_where = [&](Result<void> r) -> Result<void> {
    if (!r) return std::unexpected(std::move(r).error().with_context(where));
    return {};
  };
  for (const auto& s : t.sets) NFBPF_TRYV(with_where(check_set(s)));
  std::set<std::string, std::less<>> names;
  for (const auto& c : t.chains) {
    if (!names.insert(c.name).second) return with_where(failf(EEXIST, "duplicate chain '{}'", c.name));
    if (c.base) {
      if (!hook_valid(t.family, c.base->hook))
        return with_where(failf(EOPNOTSUPP, "chain {}: hook {} is not valid in family {}", c.name,
                                to_string(c.base->hook), to_string(t.family)));
      if (c.policy != VerdictKind::kAccept && c.policy != VerdictKind::kDrop)
        return with_where(failf(EINVAL, "chain {}: policy must be accept or drop", c.name));
    }
    for (const auto& r : c.rules) NFBPF_TRYV(with_where(check_rule(t, c, r)));
  }
  return with_where(check_loops(t));
}

Result<void> validate(const Ruleset& rs) {
  for (const auto& t : rs.tables) NFBPF_TRYV(validate(t));
  return {};
}

}  // namespace nfbpf::ir
