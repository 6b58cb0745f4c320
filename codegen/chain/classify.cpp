#include "codegen/chain/classify.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "codegen/chain/statements.h"
#include "codegen/matcher/set_lookup.h"

namespace nfbpf::codegen::chain {

using emit::AluOp;
using emit::Cond;
using emit::Label;
using emit::Reg;
using emit::Size;

namespace {

// A de Bruijn sequence B(2, 6): the top 6 bits of (1 << i) * kDeBruijn differ for every i.
constexpr uint64_t kDeBruijn = 0x022fdd63cc95386dULL;

constexpr std::array<uint8_t, 64> debruijn_table() {
  std::array<uint8_t, 64> t{};
  for (uint32_t i = 0; i < 64; ++i) t[((uint64_t{1} << i) * kDeBruijn) >> 58] = static_cast<uint8_t>(i);
  return t;
}
constexpr std::array<uint8_t, 64> kBitOf = debruijn_table();

constexpr bool debruijn_is_a_permutation() {
  std::array<bool, 64> seen{};
  for (uint32_t i = 0; i < 64; ++i) seen[((uint64_t{1} << i) * kDeBruijn) >> 58] = true;
  for (bool s : seen)
    if (!s) return false;
  return true;
}
static_assert(debruijn_is_a_permutation());

struct RuleEntry {
  uint32_t slot[2];  // counter slots, kNoCounter for none
  uint32_t verdict;  // ir::VerdictKind; kContinue: no rule (bits past the block's end)
  uint32_t pad;
};
static_assert(sizeof(RuleEntry) == 16);

ir::Bytes index_key(uint32_t i) {
  ir::Bytes k(4);
  std::memcpy(k.data(), &i, 4);
  return k;
}

}  // namespace

uint32_t debruijn_bit(uint32_t index) { return kBitOf[index & 63]; }

uint32_t ClassifyMaps::add_wildcard(const ir::Bytes& bitmap) {
  wildcards_.push_back(bitmap);
  return static_cast<uint32_t>(wildcards_.size() - 1);
}

uint32_t ClassifyMaps::add_rules(const std::vector<ClassifiedRule>& rules, uint32_t words) {
  const uint32_t base = static_cast<uint32_t>(rules_.size());
  for (uint32_t w = 0; w < words; ++w)
    for (uint32_t idx = 0; idx < 64; ++idx) {
      const uint32_t bit = w * 64 + debruijn_bit(idx);
      RuleEntry e{{kNoCounter, kNoCounter}, static_cast<uint32_t>(ir::VerdictKind::kContinue), 0};
      if (bit < rules.size())
        e = {{rules[bit].counter_slots[0], rules[bit].counter_slots[1]}, static_cast<uint32_t>(rules[bit].verdict), 0};
      ir::Bytes v(sizeof e);
      std::memcpy(v.data(), &e, sizeof e);
      rules_.push_back(std::move(v));
    }
  return base;
}

std::vector<SetMap> ClassifyMaps::maps(ir::Family family, const std::string& table) const {
  std::vector<SetMap> out;
  if (!wildcards_.empty()) {
    size_t width = 0;
    for (const auto& w : wildcards_) width = std::max(width, w.size());
    SetMap wild{.family = family, .table = table, .set = "__nfbpf_" + wildcards_name(), .map_name = wildcards_name(),
                .spec = {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = static_cast<uint32_t>(width),
                         .max_entries = static_cast<uint32_t>(wildcards_.size()), .flags = 0, .name = "nfbpf_" + wildcards_name()},
                .entries = {}};
    for (uint32_t i = 0; i < wildcards_.size(); ++i) {
      ir::Bytes v = wildcards_[i];
      v.resize(width, 0);
      wild.entries.push_back({index_key(i), std::move(v)});
    }
    out.push_back(std::move(wild));
  }
  if (!rules_.empty()) {
    SetMap rules{.family = family, .table = table, .set = "__nfbpf_" + rules_name(), .map_name = rules_name(),
                 .spec = {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = sizeof(RuleEntry),
                          .max_entries = static_cast<uint32_t>(rules_.size()), .flags = 0, .name = "nfbpf_" + rules_name()},
                 .entries = {}};
    for (uint32_t i = 0; i < rules_.size(); ++i) rules.entries.push_back({index_key(i), rules_[i]});
    out.push_back(std::move(rules));
  }
  return out;
}

Result<void> emit_classified(matcher::EmitCtx& c, const ir::Rule::Classified& cl, const std::vector<ClassifiedRule>& rules,
                             ClassifyMaps& maps, Label& none, const std::function<Result<void>(ir::VerdictKind)>& verdict) {
  emit::Program& p = c.p;
  const size_t nf = cl.fields.size();
  if (nf == 0 || nf > 4) return failf(EOPNOTSUPP, "a classified block of {} fields (codegen keeps at most 4)", nf);
  if (cl.words == 0 || rules.size() != cl.rules || cl.rules > 64 * cl.words)
    return failf(EINVAL, "classified block of {} rules in {} words, {} rules given", cl.rules, cl.words, rules.size());
  for (const auto& f : cl.fields) {
    const ir::Set* s = ir::find_set(c.table, f.set);
    if (!s || s->data_len != cl.words * 8 || f.wildcard.size() != cl.words * 8)
      return failf(EINVAL, "classified block: set '{}' is not a map of {}-word bitmaps", f.set, cl.words);
  }
  const int16_t mark = c.stack.mark();
  auto ptrs = c.stack.alloc(static_cast<uint16_t>(8 * nf));
  if (!ptrs) return std::unexpected(std::move(ptrs).error());
  auto temps = c.stack.alloc(16);  // {slot 0, slot 1, verdict} of the picked rule, across the counters' calls
  if (!temps) return std::unexpected(std::move(temps).error());
  const int16_t key = prologue::rel(emit::kKeyOff);

  // Fields tested by every rule first (a miss there means no rule: the block ends at once), the
  // one with the most elements (the most selective) first among them. The AND does not care.
  std::vector<size_t> order(nf);
  for (size_t f = 0; f < nf; ++f) order[f] = f;
  auto zero = [](const ir::Bytes& b) { return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; }); };
  auto elements = [&](size_t f) { return ir::find_set(c.table, cl.fields[f].set)->elements.size(); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    bool za = zero(cl.fields[a].wildcard), zb = zero(cl.fields[b].wildcard);
    if (za != zb) return za;
    return elements(a) > elements(b);
  });
  // One bitmap pointer per field.
  for (size_t f = 0; f < nf; ++f) {
    const auto& lk = cl.fields[order[f]];
    const bool no_wildcard = zero(lk.wildcard);
    const uint32_t wi = no_wildcard ? 0 : maps.add_wildcard(lk.wildcard);
    // The lookup's slow paths (cold code, emitted at the end of the frame) jump to `miss`: it
    // must live as long as they do.
    std::unique_ptr<Label> own_miss = c.cold ? nullptr : std::make_unique<Label>(p);
    Label& miss = c.cold ? c.cold->label(p) : *own_miss;
    Label have(p);
    const int16_t m2 = c.stack.mark();
    NFBPF_TRYV(matcher::emit_lookup(c, {lk.field}, std::nullopt, lk.set, miss));
    c.stack.release_to(m2);
    p.jmp(Cond::kEq, Reg::R0, 0, miss);
    p.stx(Size::kDW, matcher::kTmp, matcher::at(static_cast<int16_t>(*ptrs + 8 * f)), Reg::R0);
    p.jmp(have);
    p.bind(miss);  // the field is missing, or its value is in no element: the wildcard bitmap
    if (no_wildcard) {  // ... which is empty: no rule of the block matches
      p.jmp(none);
      p.bind(have);
      continue;
    }
    p.st(Size::kW, matcher::kTmp, key, static_cast<int32_t>(wi));
    p.ld_map_fd(Reg::R1, p.map(maps.wildcards_name()));
    p.mov(Reg::R2, matcher::kTmp);
    p.alu(AluOp::kAdd, Reg::R2, key);
    p.call_helper(BPF_FUNC_map_lookup_elem);
    p.jmp(Cond::kEq, Reg::R0, 0, none);  // never: an array index in range (the verifier asks)
    p.stx(Size::kDW, matcher::kTmp, matcher::at(static_cast<int16_t>(*ptrs + 8 * f)), Reg::R0);
    p.bind(have);
  }
  // AND the words, the first non-zero one decides.
  static constexpr std::array<Reg, 4> kPtr = {Reg::R1, Reg::R2, Reg::R3, Reg::R4};
  for (size_t f = 0; f < nf; ++f) p.ldx(Size::kDW, kPtr[f], matcher::kTmp, matcher::at(static_cast<int16_t>(*ptrs + 8 * f)));
  const uint32_t base = maps.add_rules(rules, cl.words);
  std::vector<std::unique_ptr<Label>> hit;
  for (uint32_t w = 0; w < cl.words; ++w) {
    const int16_t off = static_cast<int16_t>(8 * w);
    p.ldx(Size::kDW, Reg::R0, kPtr[0], off);
    for (size_t f = 1; f < nf; ++f) {
      p.ldx(Size::kDW, Reg::R5, kPtr[f], off);
      p.alu(AluOp::kAnd, Reg::R0, Reg::R5);
    }
    hit.push_back(std::make_unique<Label>(p));
    p.jmp(Cond::kNe, Reg::R0, 0, *hit.back());
  }
  p.jmp(none);
  Label found(p);
  for (uint32_t w = 0; w < cl.words; ++w) {
    p.bind(*hit[w]);
    p.mov(Reg::R5, static_cast<int32_t>(base + 64 * w));
    if (w + 1 < cl.words) p.jmp(found);
  }
  p.bind(found);
  p.mov(Reg::R1, Reg::R0);
  p.neg(Reg::R1);
  p.alu(AluOp::kAnd, Reg::R0, Reg::R1);  // the lowest set bit alone
  p.ld_imm64(Reg::R1, kDeBruijn);
  p.alu(AluOp::kMul, Reg::R0, Reg::R1);
  p.alu(AluOp::kRsh, Reg::R0, 58);
  p.alu(AluOp::kAdd, Reg::R0, Reg::R5);
  p.stx(Size::kW, matcher::kTmp, key, Reg::R0);
  p.ld_map_fd(Reg::R1, p.map(maps.rules_name()));
  p.mov(Reg::R2, matcher::kTmp);
  p.alu(AluOp::kAdd, Reg::R2, key);
  p.call_helper(BPF_FUNC_map_lookup_elem);
  p.jmp(Cond::kEq, Reg::R0, 0, none);
  // temps: {slot 0, slot 1, verdict} of the picked rule (the counters' calls clobber r0-r5).
  p.ldx(Size::kW, Reg::R1, Reg::R0, offsetof(RuleEntry, slot));
  p.stx(Size::kW, matcher::kTmp, matcher::at(*temps), Reg::R1);
  p.ldx(Size::kW, Reg::R1, Reg::R0, offsetof(RuleEntry, slot) + 4);
  p.stx(Size::kW, matcher::kTmp, matcher::at(static_cast<int16_t>(*temps + 4)), Reg::R1);
  p.ldx(Size::kW, Reg::R2, Reg::R0, offsetof(RuleEntry, verdict));
  p.stx(Size::kW, matcher::kTmp, matcher::at(static_cast<int16_t>(*temps + 8)), Reg::R2);
  for (size_t k = 0; k < 2; ++k) {
    if (std::none_of(rules.begin(), rules.end(), [&](const ClassifiedRule& r) { return r.counter_slots[k] != kNoCounter; }))
      continue;
    const int16_t at_slot = static_cast<int16_t>(*temps + 4 * k);
    Label skip(p);
    p.ldx(Size::kW, Reg::R1, matcher::kTmp, matcher::at(at_slot));
    p.jmp32(Cond::kEq, Reg::R1, static_cast<int32_t>(kNoCounter), skip);  // 32-bit: r1 is a u32
    emit_counter_from(c, at_slot);
    p.bind(skip);
  }
  p.ldx(Size::kW, Reg::R2, matcher::kTmp, matcher::at(static_cast<int16_t>(*temps + 8)));
  c.stack.release_to(mark);
  // Dispatch on the verdicts the block has.
  std::vector<ir::VerdictKind> kinds;
  for (const auto& r : rules)
    if (std::find(kinds.begin(), kinds.end(), r.verdict) == kinds.end()) kinds.push_back(r.verdict);
  std::vector<std::unique_ptr<Label>> to;
  for (auto k : kinds) {
    if (k != ir::VerdictKind::kAccept && k != ir::VerdictKind::kDrop && k != ir::VerdictKind::kReturn)
      return failf(EINVAL, "classified block: a rule with verdict {}", static_cast<int>(k));
    to.push_back(std::make_unique<Label>(p));
    p.jmp(Cond::kEq, Reg::R2, static_cast<int32_t>(k), *to.back());
  }
  p.jmp(none);  // a bit past the block's rules (never set)
  for (size_t i = 0; i < kinds.size(); ++i) {
    p.bind(*to[i]);
    NFBPF_TRYV(verdict(kinds[i]));
  }
  return {};
}

}  // namespace nfbpf::codegen::chain
