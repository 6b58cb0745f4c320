// Match and VerdictMap steps.

#include <fmt/format.h>

#include <cstring>

#include "translate/eval/sets.h"
#include "translate/eval/steps.h"
#include "translate/ir/fields.h"

namespace nfbpf::eval {

namespace {

std::string hexs(const ir::Bytes& b) {
  std::string s;
  for (uint8_t c : b) s += fmt::format("{:02x}", c);
  return s;
}

std::string field_label(const ir::Field& f) {
  if (auto n = ir::field_name(f)) return std::string(*n);
  return fmt::format("{}[{}:{}]", to_string_base(f.base), f.offset, f.len);
}

// <0, 0, >0 like memcmp, numerically for a little-endian (host order on the targets we run on)
// integer of up to 8 bytes.
int compare_host(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t x = 0, y = 0;
  std::memcpy(&x, a, n);
  std::memcpy(&y, b, n);
  return x < y ? -1 : x > y ? 1 : 0;
}

}  // namespace

Result<std::optional<ir::Bytes>> load_key(const std::vector<ir::Field>& key, const Env& env, std::string& why) {
  if (key.empty()) return fail(EINVAL, "match with an empty key");
  ir::Bytes out;
  for (const ir::Field& f : key) {
    uint8_t buf[80];
    if (f.len == 0 || f.len > 64) return failf(EINVAL, "field {} has length {}", field_label(f), f.len);
    bool unsupported = false;
    if (!load_field(env, f, buf, why, unsupported)) {
      if (unsupported) return failf(EOPNOTSUPP, "evaluator: {}", why);
      why = field_label(f) + ": " + why;
      return std::optional<ir::Bytes>{};
    }
    size_t n = key.size() == 1 ? f.len : (f.len + 3) & ~3u;
    out.insert(out.end(), buf, buf + n);
  }
  return std::optional<ir::Bytes>{std::move(out)};
}

Result<StepOutcome> eval_match(const ir::Table& t, const ir::Match& m, const Env& env) {
  std::string why;
  auto loaded = load_key(m.key, env, why);
  if (!loaded) return std::unexpected(std::move(loaded).error());
  if (!*loaded) return StepOutcome::brk(why);
  ir::Bytes key = std::move(**loaded);
  if (m.mask) {
    if (m.mask->size() != key.size())
      return failf(EINVAL, "mask of {} bytes for a {}-byte key", m.mask->size(), key.size());
    for (size_t i = 0; i < key.size(); ++i) key[i] &= (*m.mask)[i];
  }
  std::string label = field_label(m.key[0]) + (m.key.size() > 1 ? " . ..." : "");

  if (m.op == ir::Op::kInSet || m.op == ir::Op::kNotInSet) {
    const ir::Set* s = ir::find_set(t, m.set);
    if (!s) return failf(ENOENT, "set '{}' not found", m.set);
    if (s->key_len != key.size())
      return failf(EINVAL, "set '{}' key_len {} for a {}-byte key", m.set, s->key_len, key.size());
    bool found = set_lookup(*s, key) != nullptr;
    bool holds = found == (m.op == ir::Op::kInSet);
    if (holds) return StepOutcome::hold();
    return StepOutcome::brk(fmt::format("{} = {} {} @{}", label, hexs(key), found ? "in" : "not in", m.set));
  }

  auto check_len = [&](const ir::Bytes& v) -> Result<void> {
    if (v.size() != key.size()) return failf(EINVAL, "{}: value of {} bytes for a {}-byte key", label, v.size(), key.size());
    return {};
  };
  NFBPF_TRYV(check_len(m.value));
  bool numeric = m.key.size() == 1 && m.key[0].host_order && key.size() <= 8;
  auto cmp = [&](const ir::Bytes& v) {
    return numeric ? compare_host(key.data(), v.data(), key.size()) : std::memcmp(key.data(), v.data(), key.size());
  };
  int c = cmp(m.value);
  bool holds = false;
  switch (m.op) {
    case ir::Op::kEq: holds = c == 0; break;
    case ir::Op::kNe: holds = c != 0; break;
    case ir::Op::kLt: holds = c < 0; break;
    case ir::Op::kLe: holds = c <= 0; break;
    case ir::Op::kGt: holds = c > 0; break;
    case ir::Op::kGe: holds = c >= 0; break;
    case ir::Op::kRange:
    case ir::Op::kNotRange: {
      NFBPF_TRYV(check_len(m.value_hi));
      bool in = c >= 0 && cmp(m.value_hi) <= 0;
      holds = in == (m.op == ir::Op::kRange);
      break;
    }
    default: return failf(EINVAL, "bad match op {}", static_cast<int>(m.op));
  }
  if (holds) return StepOutcome::hold();
  std::string rhs = hexs(m.value);
  if (m.op == ir::Op::kRange || m.op == ir::Op::kNotRange) rhs += "-" + hexs(m.value_hi);
  return StepOutcome::brk(fmt::format("{} = {}, not {} {}", label, hexs(key), ir::to_string(m.op), rhs));
}

Result<StepOutcome> eval_verdict_map(const ir::Table& t, const ir::VerdictMap& vm, const Env& env) {
  std::string why;
  auto loaded = load_key(vm.key, env, why);
  if (!loaded) return std::unexpected(std::move(loaded).error());
  if (!*loaded) return StepOutcome::brk(why);
  const ir::Set* s = ir::find_set(t, vm.set);
  if (!s) return failf(ENOENT, "verdict map '{}' not found", vm.set);
  if (!s->verdict_map) return failf(EINVAL, "'{}' is not a verdict map", vm.set);
  if (s->key_len != (*loaded)->size())
    return failf(EINVAL, "map '{}' key_len {} for a {}-byte key", vm.set, s->key_len, (*loaded)->size());
  const ir::Element* e = set_lookup(*s, **loaded);
  if (!e) return StepOutcome::brk(fmt::format("{} not in vmap @{}", hexs(**loaded), vm.set));
  if (!e->verdict) return failf(EINVAL, "map '{}': element without a verdict", vm.set);
  if (e->verdict->kind == ir::VerdictKind::kContinue) return StepOutcome::hold();
  return StepOutcome::decide(*e->verdict);
}

}  // namespace nfbpf::eval
