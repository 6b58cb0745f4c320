#include "translate/passes/form_matches.h"

#include <array>
#include <bitset>
#include <cstring>
#include <optional>

namespace nfbpf::translate::passes {

namespace {

constexpr size_t kUnits = 20;  // nft's register file in 4-byte units
using Units = std::bitset<kUnits>;

Units span(uint8_t reg, uint32_t len) {
  Units u;
  for (uint32_t i = 0; i < (len + 3) / 4 && reg + i < kUnits; ++i) u.set(reg + i);
  return u;
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

// Registers each operation reads and writes, for the cross-block check.
struct Access {
  Units reads, writes;
};

Access access_of(const ir::reg::Op& op, const ir::Table& t) {
  return std::visit(
      Overloaded{
          [](const ir::reg::Load& o) { return Access{{}, span(o.dreg, o.field.len)}; },
          [](const ir::reg::Immediate& o) { return Access{{}, span(o.dreg, static_cast<uint32_t>(o.data.size()))}; },
          [](const ir::reg::Bitwise& o) { return Access{span(o.sreg, o.len), span(o.dreg, o.len)}; },
          [](const ir::reg::Shift& o) { return Access{span(o.sreg, o.len), span(o.dreg, o.len)}; },
          [](const ir::reg::ByteOrder& o) { return Access{span(o.sreg, o.len), span(o.dreg, o.len)}; },
          [](const ir::reg::Cmp& o) { return Access{span(o.sreg, static_cast<uint32_t>(o.data.size())), {}}; },
          [](const ir::reg::Range& o) { return Access{span(o.sreg, static_cast<uint32_t>(o.from.size())), {}}; },
          [&t](const ir::reg::Lookup& o) {
            const ir::Set* s = ir::find_set(t, o.set);
            Access a{span(o.sreg, s ? s->key_len : 4), {}};
            if (o.dreg && *o.dreg != 0) a.writes = span(*o.dreg, s ? std::max(s->data_len, 4u) : 4);
            return a;
          },
          [](const ir::reg::SetMeta& o) { return Access{span(o.sreg, 4), {}}; },
      },
      op);
}

// True when some block reads a register it did not write itself: then registers flow between
// blocks and none may be rewritten.
bool registers_cross_blocks(const ir::Rule& r, const ir::Table& t) {
  for (const auto& step : r.steps) {
    const auto* b = std::get_if<ir::RegisterBlock>(&step);
    if (!b) continue;
    Units defined;
    for (const auto& op : b->ops) {
      Access a = access_of(op, t);
      if ((a.reads & ~defined).any()) return true;
      defined |= a.writes;
    }
  }
  return false;
}

// What a register holds, symbolically.
struct Sym {
  ir::Field field;
  std::optional<ir::Bytes> mask;
  std::optional<ir::Bytes> xor_;  // only from bitwise, for SetMark
  std::optional<ir::Bytes> imm;   // an immediate instead of a field
};

bool all_zero(const ir::Bytes& b) {
  for (uint8_t c : b)
    if (c) return false;
  return true;
}

class BlockRewriter {
 public:
  explicit BlockRewriter(const ir::Table& t) : table_(t) {}

  // The steps replacing `b`, or nullopt if some operation has no matcher form.
  std::optional<std::vector<ir::Step>> rewrite(const ir::RegisterBlock& b) {
    for (const auto& op : b.ops) {
      bool ok = std::visit(
          Overloaded{
              [&](const ir::reg::Load& o) { return load(o); },
              [&](const ir::reg::Immediate& o) {
                kill(span(o.dreg, static_cast<uint32_t>(o.data.size())));
                regs_[o.dreg] = Sym{.imm = o.data};
                return true;
              },
              [&](const ir::reg::Bitwise& o) { return bitwise(o); },
              [&](const ir::reg::ByteOrder& o) { return byteorder(o); },
              [&](const ir::reg::Cmp& o) { return cmp(o); },
              [&](const ir::reg::Range& o) { return range(o); },
              [&](const ir::reg::Lookup& o) { return lookup(o); },
              [&](const ir::reg::SetMeta& o) { return set_meta(o); },
              [](const ir::reg::Shift&) { return false; },
          },
          op);
      if (!ok) return std::nullopt;
    }
    return std::move(out_);
  }

 private:
  void kill(Units u) {
    for (size_t i = 0; i < kUnits; ++i)
      if (regs_[i] && (span(static_cast<uint8_t>(i), width(*regs_[i])) & u).any()) regs_[i].reset();
  }
  static uint32_t width(const Sym& s) { return s.imm ? static_cast<uint32_t>(s.imm->size()) : s.field.len; }

  const Sym* field_at(uint8_t reg) const {
    if (reg >= kUnits || !regs_[reg] || regs_[reg]->imm) return nullptr;
    return &*regs_[reg];
  }

  bool load(const ir::reg::Load& o) {
    kill(span(o.dreg, o.field.len));
    regs_[o.dreg] = Sym{.field = o.field};
    return true;
  }

  bool bitwise(const ir::reg::Bitwise& o) {
    const Sym* s = field_at(o.sreg);
    if (!s || s->mask || s->field.len != o.len || o.mask.size() != o.len) return false;
    Sym n = *s;
    n.mask = o.mask;
    if (!all_zero(o.xor_)) n.xor_ = o.xor_;
    kill(span(o.dreg, o.len));
    regs_[o.dreg] = n;
    return true;
  }

  bool byteorder(const ir::reg::ByteOrder& o) {
    // A host-order integer converted to network order for an ordered or interval comparison is
    // the same field read as big-endian bytes.
    const Sym* s = field_at(o.sreg);
    if (!s || s->mask || s->xor_ || !s->field.host_order || !o.to_network) return false;
    if (o.len != s->field.len || o.size != s->field.len) return false;
    Sym n = *s;
    n.field.host_order = false;
    kill(span(o.dreg, o.len));
    regs_[o.dreg] = n;
    return true;
  }

  bool cmp(const ir::reg::Cmp& o) {
    const Sym* s = field_at(o.sreg);
    if (!s || s->xor_ || s->field.len != o.data.size()) return false;
    out_.push_back(ir::Match{.key = {s->field}, .mask = s->mask, .op = o.op, .value = o.data});
    return true;
  }

  bool range(const ir::reg::Range& o) {
    const Sym* s = field_at(o.sreg);
    if (!s || s->xor_ || s->field.len != o.from.size() || o.to.size() != o.from.size()) return false;
    out_.push_back(ir::Match{.key = {s->field}, .mask = s->mask, .op = o.negate ? ir::Op::kNotRange : ir::Op::kRange,
                             .value = o.from, .value_hi = o.to});
    return true;
  }

  // The fields making up a key of `len` bytes starting at `reg` (one field, or a concatenation
  // with each part starting on a 4-byte unit).
  std::optional<std::vector<ir::Field>> key_at(uint8_t reg, uint32_t len) const {
    std::vector<ir::Field> key;
    const Sym* first = field_at(reg);
    if (first && !first->mask && first->field.len == len) return std::vector<ir::Field>{first->field};
    uint32_t covered = 0;
    while (covered < len) {
      const Sym* s = field_at(static_cast<uint8_t>(reg + covered / 4));
      if (!s || s->mask) return std::nullopt;
      key.push_back(s->field);
      covered += (s->field.len + 3) & ~3u;
    }
    if (covered != len) return std::nullopt;
    return key;
  }

  bool lookup(const ir::reg::Lookup& o) {
    const ir::Set* set = ir::find_set(table_, o.set);
    if (!set) return false;
    auto key = key_at(o.sreg, set->key_len);
    if (!key) return false;
    if (!o.dreg) {
      out_.push_back(ir::Match{.key = *key, .op = o.invert ? ir::Op::kNotInSet : ir::Op::kInSet, .set = o.set});
      return true;
    }
    if (*o.dreg == 0 && set->verdict_map && !o.invert) {
      out_.push_back(ir::VerdictMap{*key, o.set});
      return true;
    }
    return false;  // data maps feed later operations: leave the block to the register machine
  }

  bool set_meta(const ir::reg::SetMeta& o) {
    if (o.key != ir::MetaKey::kMark || o.sreg >= kUnits || !regs_[o.sreg]) return false;
    const Sym& s = *regs_[o.sreg];
    if (s.imm && s.imm->size() == 4) {
      uint32_t v;
      std::memcpy(&v, s.imm->data(), 4);
      out_.push_back(ir::SetMark{.clear = 0xffffffff, .value = v});
      return true;
    }
    // mark set mark & m ^ x: the same field, read host order, masked.
    const bool own_mark = !s.imm && s.field.base == ir::Base::kMeta &&
                          s.field.key == static_cast<uint8_t>(ir::MetaKey::kMark) && s.field.host_order;
    if (own_mark && s.mask && s.mask->size() == 4) {
      uint32_t m, x = 0;
      std::memcpy(&m, s.mask->data(), 4);
      if (s.xor_) std::memcpy(&x, s.xor_->data(), 4);
      out_.push_back(ir::SetMark{.clear = ~m, .value = x});
      return true;
    }
    return false;
  }

  const ir::Table& table_;
  std::array<std::optional<Sym>, kUnits> regs_;
  std::vector<ir::Step> out_;
};

void rewrite_rule(ir::Rule& r, const ir::Table& t) {
  if (registers_cross_blocks(r, t)) return;
  std::vector<ir::Step> steps;
  for (auto& step : r.steps) {
    auto* b = std::get_if<ir::RegisterBlock>(&step);
    if (!b) {
      steps.push_back(std::move(step));
      continue;
    }
    auto rewritten = BlockRewriter(t).rewrite(*b);
    if (!rewritten) {
      steps.push_back(std::move(step));
      continue;
    }
    for (auto& s : *rewritten) steps.push_back(std::move(s));
  }
  r.steps = std::move(steps);
}

}  // namespace

Result<void> form_matches(ir::Table& table) {
  for (auto& chain : table.chains)
    for (auto& rule : chain.rules) rewrite_rule(rule, table);
  return {};
}

}  // namespace nfbpf::translate::passes
