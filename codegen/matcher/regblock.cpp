#include "codegen/matcher/regblock.h"

#include <cstring>
#include <variant>

#include "codegen/matcher/cmp.h"
#include "codegen/matcher/load.h"
#include "codegen/matcher/set_lookup.h"
#include "codegen/matcher/stack_access.h"
#include "translate/ir/fields.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::Reg;
using emit::Size;

namespace {

constexpr uint32_t kRegFile = 80, kFirstData = 4;
constexpr int32_t kNfDrop = 0, kNfAccept = 1, kNftContinue = -1, kNftBreak = -2, kNftJump = -3, kNftGoto = -4,
                  kNftReturn = -5;
constexpr int16_t kSkMark = 8, kSkPriority = 32;

uint32_t round4(uint32_t n) { return (n + 3) & ~3u; }
Size size_of(uint32_t n) { return n == 1 ? Size::kB : n == 2 ? Size::kH : n == 4 ? Size::kW : Size::kDW; }

class Block {
 public:
  Block(EmitCtx& c, int16_t file, emit::Label& fail, VerdictEmitter& v) : c_(c), p_(c.p), file_(file), fail_(fail), v_(v) {}

  // false: a verdict ended the block (emit nothing after it).
  Result<bool> op(const ir::reg::Op& op, size_t i) {
    return std::visit([&](const auto& o) { return this->on(o, i); }, op);
  }

 private:
  Result<int16_t> reg(uint8_t r, uint32_t len, size_t i) {
    if (r < kFirstData) return failf(EINVAL, "register op {}: register {} is not a data register", i, r);
    if (r * 4u + len > kRegFile) return failf(ERANGE, "register op {}: {} bytes at register {} overrun the file", i, len, r);
    return static_cast<int16_t>(file_ + r * 4);
  }

  void zero(int16_t first, uint32_t n) {
    for (uint32_t k = 0; k < n; k += 4) p_.st(Size::kW, kTmp, at(static_cast<int16_t>(first + k)), 0);
  }

  void copy(int16_t dst, emit::Reg src, int16_t src_off, uint32_t n) {
    uint32_t off = 0;
    for (uint32_t s : {8u, 4u, 2u, 1u})
      while (n - off >= s) {
        if (s == 8) {
          ldx64(p_, Reg::R2, src, static_cast<int16_t>(src_off + off), Reg::R3);
          stx64(p_, kTmp, at(static_cast<int16_t>(dst + off)), Reg::R2);
        } else {
          p_.ldx(size_of(s), Reg::R2, src, static_cast<int16_t>(src_off + off));
          p_.stx(size_of(s), kTmp, at(static_cast<int16_t>(dst + off)), Reg::R2);
        }
        off += s;
      }
  }

  Result<bool> on(const ir::reg::Load& ld, size_t i) {
    auto dst = reg(ld.dreg, round4(ld.field.len), i);
    if (!dst) return std::unexpected(std::move(dst).error());
    int16_t mark = c_.stack.mark();
    auto l = load_field(c_, ld.field, fail_);
    if (!l) return std::unexpected(std::move(l).error());
    if (round4(l->len) != l->len || l->kind == Loaded::Kind::kMem) zero(*dst, round4(l->len));
    if (l->kind == Loaded::Kind::kReg) {
      if (l->len < 4) p_.st(Size::kW, kTmp, at(*dst), 0);
      if (l->len == 8) stx64(p_, kTmp, at(*dst), Reg::R1);
      else p_.stx(size_of(l->len), kTmp, at(*dst), Reg::R1);
    } else {
      copy(*dst, Reg::R1, 0, l->len);
    }
    c_.stack.release_to(mark);
    return true;
  }

  Result<bool> on(const ir::reg::Immediate& im, size_t i) {
    if (im.dreg == 0) {
      if (im.data.size() < 4) return failf(EINVAL, "register op {}: verdict immediate needs a 4-byte code", i);
      int32_t code;
      std::memcpy(&code, im.data.data(), 4);
      std::string chain(im.data.begin() + 4, im.data.end());
      while (!chain.empty() && chain.back() == '\0') chain.pop_back();
      ir::Verdict v;
      switch (code) {
        case kNftContinue: return true;
        case kNftBreak: p_.jmp(fail_); return false;
        case kNfAccept: v.kind = ir::VerdictKind::kAccept; break;
        case kNfDrop: v.kind = ir::VerdictKind::kDrop; break;
        case kNftReturn: v.kind = ir::VerdictKind::kReturn; break;
        case kNftJump: v = ir::Verdict{ir::VerdictKind::kJump, chain}; break;
        case kNftGoto: v = ir::Verdict{ir::VerdictKind::kGoto, chain}; break;
        default: return failf(EOPNOTSUPP, "register op {}: verdict code {} is not supported", i, code);
      }
      NFBPF_TRYV(v_.constant(v));
      return false;
    }
    auto dst = reg(im.dreg, round4(static_cast<uint32_t>(im.data.size())), i);
    if (!dst) return std::unexpected(std::move(dst).error());
    ir::Bytes d = im.data;
    d.resize(round4(static_cast<uint32_t>(d.size())), 0);
    for (size_t k = 0; k < d.size(); k += 4) {
      int32_t w;
      std::memcpy(&w, d.data() + k, 4);
      p_.st(Size::kW, kTmp, at(static_cast<int16_t>(*dst + k)), w);
    }
    return true;
  }

  Result<bool> on(const ir::reg::Bitwise& bw, size_t i) {
    uint32_t n = round4(bw.len);
    auto src = reg(bw.sreg, n, i);
    auto dst = reg(bw.dreg, n, i);
    if (!src) return std::unexpected(std::move(src).error());
    if (!dst) return std::unexpected(std::move(dst).error());
    for (uint32_t k = 0; k < n; k += 4) {
      uint32_t m = 0, x = 0;
      for (uint32_t j = 0; j < 4; ++j) {
        m |= static_cast<uint32_t>(k + j < bw.mask.size() ? bw.mask[k + j] : 0) << (8 * j);
        x |= static_cast<uint32_t>(k + j < bw.xor_.size() ? bw.xor_[k + j] : 0) << (8 * j);
      }
      p_.ldx(Size::kW, Reg::R2, kTmp, at(static_cast<int16_t>(*src + k)));
      if (m != ~0u) p_.alu32(AluOp::kAnd, Reg::R2, static_cast<int32_t>(m));
      if (x != 0) p_.alu32(AluOp::kXor, Reg::R2, static_cast<int32_t>(x));
      p_.stx(Size::kW, kTmp, at(static_cast<int16_t>(*dst + k)), Reg::R2);
    }
    return true;
  }

  Result<bool> on(const ir::reg::Shift& sh, size_t i) {
    if (sh.amount >= 32) return failf(EINVAL, "register op {}: shift by {}", i, sh.amount);
    uint32_t words = round4(sh.len) / 4;
    auto src = reg(sh.sreg, words * 4, i);
    auto dst = reg(sh.dreg, words * 4, i);
    if (!src) return std::unexpected(std::move(src).error());
    if (!dst) return std::unexpected(std::move(dst).error());
    int32_t s = static_cast<int32_t>(sh.amount);
    p_.mov(Reg::R4, 0);  // carry
    for (uint32_t n = 0; n < words; ++n) {
      uint32_t k = sh.left ? words - 1 - n : n;
      p_.ldx(Size::kW, Reg::R2, kTmp, at(static_cast<int16_t>(*src + k * 4)));
      p_.mov32(Reg::R3, Reg::R2);
      p_.alu32(sh.left ? AluOp::kLsh : AluOp::kRsh, Reg::R3, s);
      p_.alu32(AluOp::kOr, Reg::R3, Reg::R4);
      p_.stx(Size::kW, kTmp, at(static_cast<int16_t>(*dst + k * 4)), Reg::R3);
      if (s == 0) continue;
      p_.mov32(Reg::R4, Reg::R2);
      p_.alu32(sh.left ? AluOp::kRsh : AluOp::kLsh, Reg::R4, 32 - s);
    }
    return true;
  }

  Result<bool> on(const ir::reg::ByteOrder& bo, size_t i) {
    if (bo.size != 2 && bo.size != 4 && bo.size != 8) return failf(EINVAL, "register op {}: byteorder size {}", i, bo.size);
    uint32_t units = bo.len / bo.size;
    uint32_t span = units ? (units - 1) * 4 + std::max<uint32_t>(bo.size, 4) : 0;
    auto src = reg(bo.sreg, span, i);
    auto dst = reg(bo.dreg, span, i);
    if (!src) return std::unexpected(std::move(src).error());
    if (!dst) return std::unexpected(std::move(dst).error());
    for (uint32_t k = 0; k < units; ++k) {
      auto so = static_cast<int16_t>(*src + k * 4), d = static_cast<int16_t>(*dst + k * 4);
      if (bo.size == 8) ldx64(p_, Reg::R2, kTmp, at(so), Reg::R3);
      else p_.ldx(size_of(bo.size), Reg::R2, kTmp, at(so));
      p_.to_be(Reg::R2, static_cast<int>(bo.size * 8));
      if (bo.size == 8) stx64(p_, kTmp, at(d), Reg::R2);
      else p_.stx(size_of(bo.size), kTmp, at(d), Reg::R2);
    }
    return true;
  }

  Result<bool> on(const ir::reg::Cmp& cm, size_t i) {
    auto src = reg(cm.sreg, static_cast<uint32_t>(cm.data.size()), i);
    if (!src) return std::unexpected(std::move(src).error());
    KeyRef k{.in_reg = false, .base = kTmp, .off = at(*src), .len = static_cast<uint32_t>(cm.data.size()), .numeric = false};
    NFBPF_TRYV(emit_cmp(p_, k, std::nullopt, cm.op, cm.data, fail_));
    return true;
  }

  Result<bool> on(const ir::reg::Range& rg, size_t i) {
    if (rg.from.size() != rg.to.size()) return failf(EINVAL, "register op {}: range bounds differ in length", i);
    auto src = reg(rg.sreg, static_cast<uint32_t>(rg.from.size()), i);
    if (!src) return std::unexpected(std::move(src).error());
    KeyRef k{.in_reg = false, .base = kTmp, .off = at(*src), .len = static_cast<uint32_t>(rg.from.size()), .numeric = false};
    NFBPF_TRYV(emit_range(p_, k, std::nullopt, rg.negate, rg.from, rg.to, fail_));
    return true;
  }

  Result<bool> on(const ir::reg::Lookup& lk, size_t i) {
    const ir::Set* s = ir::find_set(c_.table, lk.set);
    if (!s) return failf(ENOENT, "register op {}: set '{}' not found", i, lk.set);
    auto src = reg(lk.sreg, s->key_len, i);
    if (!src) return std::unexpected(std::move(src).error());
    int16_t mark = c_.stack.mark();
    NFBPF_TRYV(emit_lookup_at(c_, *src, lk.set));
    c_.stack.release_to(mark);
    p_.jmp(lk.invert ? Cond::kNe : Cond::kEq, Reg::R0, 0, fail_);
    if (lk.invert || !lk.dreg) return true;
    if (s->verdict_map) {
      if (*lk.dreg != 0) return failf(EINVAL, "register op {}: verdict map into register {}", i, *lk.dreg);
      NFBPF_TRYV(v_.from_vmap(*s));
      return true;
    }
    auto dst = reg(*lk.dreg, round4(s->data_len), i);
    if (!dst) return std::unexpected(std::move(dst).error());
    zero(*dst, round4(s->data_len));
    copy(*dst, Reg::R0, 0, s->data_len);
    return true;
  }

  Result<bool> on(const ir::reg::SetMeta& sm, size_t i) {
    auto src = reg(sm.sreg, 4, i);
    if (!src) return std::unexpected(std::move(src).error());
    bool skb_ctx = c_.f.flavor != flavor::Flavor::kNetfilter && c_.f.flavor != flavor::Flavor::kXdp;
    if (!skb_ctx || (sm.key != ir::MetaKey::kMark && sm.key != ir::MetaKey::kPriority))
      return failf(EOPNOTSUPP, "register op {}: meta {} set is not possible at {} hooks", i, ir::to_string(sm.key), c_.f.name);
    p_.ldx(Size::kW, Reg::R2, kTmp, at(*src));
    p_.stx(Size::kW, emit::kCtx, sm.key == ir::MetaKey::kMark ? kSkMark : kSkPriority, Reg::R2);
    return true;
  }

  EmitCtx& c_;
  emit::Program& p_;
  int16_t file_;
  emit::Label& fail_;
  VerdictEmitter& v_;
};

}  // namespace

Result<bool> emit_register_block(EmitCtx& c, const ir::RegisterBlock& b, emit::Label& fail, VerdictEmitter& v) {
  int16_t mark = c.stack.mark();
  auto file = c.stack.alloc(kRegFile);
  if (!file) return std::unexpected(std::move(file).error());
  // Data registers start zeroed (the verifier refuses reads of uninitialised stack anyway).
  for (uint32_t k = kFirstData * 4; k < kRegFile; k += 8) c.p.st(Size::kDW, kTmp, at(static_cast<int16_t>(*file + k)), 0);
  Block blk(c, *file, fail, v);
  for (size_t i = 0; i < b.ops.size(); ++i) {
    auto more = blk.op(b.ops[i], i);
    if (!more) return std::unexpected(std::move(more).error().with_context("in a register block"));
    if (!*more) {
      c.stack.release_to(mark);
      return false;
    }
  }
  c.stack.release_to(mark);
  return true;
}

}  // namespace nfbpf::codegen::matcher
