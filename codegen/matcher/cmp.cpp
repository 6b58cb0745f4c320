#include "codegen/matcher/cmp.h"

#include <cstring>

#include "codegen/matcher/stack_access.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::Reg;
using emit::Size;

namespace {

struct Chunk {
  uint32_t off, size;
};

std::vector<Chunk> chunks_of(uint32_t len) {
  std::vector<Chunk> out;
  uint32_t off = 0;
  for (uint32_t s : {8u, 4u, 2u, 1u})
    while (len - off >= s) {
      out.push_back({off, s});
      off += s;
    }
  return out;
}

uint64_t le_of(const ir::Bytes& b, uint32_t off, uint32_t n) {
  uint64_t v = 0;
  for (uint32_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[off + i]) << (8 * i);
  return v;
}
uint64_t be_of(const ir::Bytes& b, uint32_t off, uint32_t n) {
  uint64_t v = 0;
  for (uint32_t i = 0; i < n; ++i) v = (v << 8) | b[off + i];
  return v;
}

Size size_of(uint32_t n) { return n == 1 ? Size::kB : n == 2 ? Size::kH : n == 4 ? Size::kW : Size::kDW; }

// The register holding the chunk (masked; for ordered compares in memcmp order, byte-swapped to a
// big-endian number): r1 itself when a register key needs no change, else r2.
Reg load_chunk(emit::Program& p, const KeyRef& k, const Chunk& c, const std::optional<ir::Bytes>& mask, bool be) {
  bool needs_mask = false;
  if (mask) {
    uint64_t all = c.size == 8 ? ~0ull : (1ull << (8 * c.size)) - 1;
    needs_mask = le_of(*mask, c.off, c.size) != all;
  }
  if (k.in_reg && !needs_mask && !(be && c.size > 1)) return Reg::R1;
  if (k.in_reg) p.mov(Reg::R2, Reg::R1);
  else if (c.size == 8) ldx64(p, Reg::R2, k.base, static_cast<int16_t>(k.off + c.off), Reg::R3);
  else p.ldx(size_of(c.size), Reg::R2, k.base, static_cast<int16_t>(k.off + c.off));
  if (mask) {
    uint64_t m = le_of(*mask, c.off, c.size);
    uint64_t all = c.size == 8 ? ~0ull : (1ull << (8 * c.size)) - 1;
    if (m != all) {
      if (c.size == 8) {
        p.ld_imm64(Reg::R3, m);
        p.alu(AluOp::kAnd, Reg::R2, Reg::R3);
      } else {
        p.alu32(AluOp::kAnd, Reg::R2, static_cast<int32_t>(m));
      }
    }
  }
  if (be && c.size > 1) p.to_be(Reg::R2, static_cast<int>(c.size * 8));
  return Reg::R2;
}

void jmp_const(emit::Program& p, Cond cond, Reg r, uint32_t size, uint64_t v, emit::Label& target) {
  if (size == 8) {
    p.ld_imm64(Reg::R3, v);
    p.jmp(cond, r, Reg::R3, target);
  } else {
    p.jmp32(cond, r, static_cast<int32_t>(static_cast<uint32_t>(v)), target);
  }
}

Result<void> check(const KeyRef& k, const ir::Bytes& v, const std::optional<ir::Bytes>& mask) {
  if (v.size() != k.len) return failf(EINVAL, "compare value of {} bytes for a {}-byte key", v.size(), k.len);
  if (mask && mask->size() != k.len) return failf(EINVAL, "mask of {} bytes for a {}-byte key", mask->size(), k.len);
  if (k.in_reg && k.len != 1 && k.len != 2 && k.len != 4 && k.len != 8)
    return failf(EINVAL, "register key of {} bytes", k.len);
  return {};
}

}  // namespace

Result<void> emit_cmp(emit::Program& p, const KeyRef& k, const std::optional<ir::Bytes>& mask, ir::Op op,
                      const ir::Bytes& value, emit::Label& fail) {
  NFBPF_TRYV(check(k, value, mask));
  auto chunks = k.in_reg ? std::vector<Chunk>{{0, k.len}} : chunks_of(k.len);
  switch (op) {
    case ir::Op::kEq:
      for (const Chunk& c : chunks) {
        Reg r = load_chunk(p, k, c, mask, false);
        jmp_const(p, Cond::kNe, r, c.size, le_of(value, c.off, c.size), fail);
      }
      return {};
    case ir::Op::kNe: {
      emit::Label hold(p);
      for (size_t i = 0; i < chunks.size(); ++i) {
        const Chunk& c = chunks[i];
        Reg r = load_chunk(p, k, c, mask, false);
        bool last = i + 1 == chunks.size();
        jmp_const(p, last ? Cond::kEq : Cond::kNe, r, c.size, le_of(value, c.off, c.size), last ? fail : hold);
      }
      p.bind(hold);
      return {};
    }
    case ir::Op::kLt:
    case ir::Op::kLe:
    case ir::Op::kGt:
    case ir::Op::kGe: {
      emit::Label hold(p);
      bool greater = op == ir::Op::kGt || op == ir::Op::kGe;
      bool or_equal = op == ir::Op::kLe || op == ir::Op::kGe;
      NFBPF_TRYV(detail::emit_order(p, k, mask, value, greater, or_equal, hold, fail));
      p.bind(hold);
      return {};
    }
    default:
      return failf(EINVAL, "emit_cmp: op {}", static_cast<int>(op));
  }
}

namespace detail {

Result<void> emit_order(emit::Program& p, const KeyRef& k, const std::optional<ir::Bytes>& mask,
                        const ir::Bytes& v, bool greater, bool or_equal, emit::Label& hold, emit::Label& miss,
                        bool hold_next) {
  NFBPF_TRYV(check(k, v, mask));
  if (!k.in_reg && k.numeric) return fail(EOPNOTSUPP, "ordered compare of a host-order key in memory");
  auto chunks = k.in_reg ? std::vector<Chunk>{{0, k.len}} : chunks_of(k.len);
  Cond strict = greater ? Cond::kGt : Cond::kLt;
  Cond opposite = greater ? Cond::kLt : Cond::kGt;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    bool be = !k.numeric;
    Reg r = load_chunk(p, k, c, mask, be);
    uint64_t cv = be ? be_of(v, c.off, c.size) : le_of(v, c.off, c.size);
    if (i + 1 < chunks.size()) {
      jmp_const(p, strict, r, c.size, cv, hold);
      jmp_const(p, opposite, r, c.size, cv, miss);
      continue;
    }
    // Last chunk: holds when strict (or equal); otherwise miss. Jump to whichever does not follow.
    if (hold_next) {
      Cond final_miss = greater ? (or_equal ? Cond::kLt : Cond::kLe) : (or_equal ? Cond::kGt : Cond::kGe);
      jmp_const(p, final_miss, r, c.size, cv, miss);
    } else {
      Cond final_hold = greater ? (or_equal ? Cond::kGe : Cond::kGt) : (or_equal ? Cond::kLe : Cond::kLt);
      jmp_const(p, final_hold, r, c.size, cv, hold);
    }
  }
  return {};
}

}  // namespace detail
}  // namespace nfbpf::codegen::matcher
