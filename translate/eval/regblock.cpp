// RegisterBlock: nft's register machine, op by op as the kernel's eval functions do it.
// Byte offsets: register r is at r * 4; 0..15 is the verdict register (NFT_REG_VERDICT).

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <variant>

#include "translate/eval/sets.h"
#include "translate/eval/steps.h"
#include "translate/ir/fields.h"

namespace nfbpf::eval {

namespace {

constexpr int32_t kNfDrop = 0, kNfAccept = 1, kNftContinue = -1, kNftBreak = -2, kNftJump = -3, kNftGoto = -4,
                  kNftReturn = -5;
constexpr uint32_t kRegFile = 80, kFirstData = 4;

uint32_t round4(uint32_t n) { return (n + 3) & ~3u; }

Result<uint8_t*> data_reg(std::array<uint8_t, kRegFile>& regs, uint8_t reg, uint32_t len, std::string_view what) {
  if (reg < kFirstData) return failf(EINVAL, "{}: register {} is not a data register", what, reg);
  if (reg * 4u + len > kRegFile) return failf(ERANGE, "{}: {} bytes at register {} overrun the register file", what, len, reg);
  return regs.data() + reg * 4u;
}

struct VerdictReg {
  int32_t code = kNftContinue;
  std::string chain;
};

Result<ir::Verdict> to_verdict(const VerdictReg& v) {
  switch (v.code) {
    case kNfDrop: return ir::Verdict{ir::VerdictKind::kDrop, {}};
    case kNfAccept: return ir::Verdict{ir::VerdictKind::kAccept, {}};
    case kNftContinue: return ir::Verdict{ir::VerdictKind::kContinue, {}};
    case kNftReturn: return ir::Verdict{ir::VerdictKind::kReturn, {}};
    case kNftJump: return ir::Verdict{ir::VerdictKind::kJump, v.chain};
    case kNftGoto: return ir::Verdict{ir::VerdictKind::kGoto, v.chain};
    default: return failf(EOPNOTSUPP, "evaluator: verdict code {} not modelled", v.code);
  }
}

int32_t to_code(const ir::Verdict& v) {
  switch (v.kind) {
    case ir::VerdictKind::kDrop: return kNfDrop;
    case ir::VerdictKind::kAccept: return kNfAccept;
    case ir::VerdictKind::kReturn: return kNftReturn;
    case ir::VerdictKind::kJump: return kNftJump;
    case ir::VerdictKind::kGoto: return kNftGoto;
    default: return kNftContinue;
  }
}

uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void wr32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace

Result<StepOutcome> eval_register_block(const ir::Table& t, const ir::RegisterBlock& b, Env& env) {
  std::array<uint8_t, kRegFile> regs{};
  VerdictReg verdict;
  std::string why;

  for (size_t i = 0; i < b.ops.size() && verdict.code == kNftContinue; ++i) {
    const ir::reg::Op& op = b.ops[i];
    std::string what = fmt::format("op {}", i);

    if (const auto* ld = std::get_if<ir::reg::Load>(&op)) {
      auto dst = data_reg(regs, ld->dreg, round4(ld->field.len), what);
      if (!dst) return std::unexpected(std::move(dst).error());
      bool unsupported = false;
      if (!load_field(env, ld->field, *dst, why, unsupported)) {
        if (unsupported) return failf(EOPNOTSUPP, "evaluator: {}", why);
        verdict.code = kNftBreak;
      }
    } else if (const auto* im = std::get_if<ir::reg::Immediate>(&op)) {
      if (im->dreg == 0) {
        if (im->data.size() < 4) return failf(EINVAL, "{}: verdict immediate needs a 4-byte code", what);
        std::memcpy(&verdict.code, im->data.data(), 4);
        verdict.chain.assign(im->data.begin() + 4, im->data.end());
        if (verdict.code == kNftBreak) why = "immediate break";
        continue;
      }
      auto dst = data_reg(regs, im->dreg, round4(static_cast<uint32_t>(im->data.size())), what);
      if (!dst) return std::unexpected(std::move(dst).error());
      std::memset(*dst, 0, round4(static_cast<uint32_t>(im->data.size())));  // nft_data_copy zero-pads
      if (!im->data.empty()) std::memcpy(*dst, im->data.data(), im->data.size());
    } else if (const auto* bw = std::get_if<ir::reg::Bitwise>(&op)) {
      // nft_bitwise_eval_mask_xor: whole 32-bit words; mask/xor bytes past `len` are 0.
      uint32_t n = round4(bw->len);
      auto src = data_reg(regs, bw->sreg, n, what);
      auto dst = data_reg(regs, bw->dreg, n, what);
      if (!src) return std::unexpected(std::move(src).error());
      if (!dst) return std::unexpected(std::move(dst).error());
      for (uint32_t k = 0; k < n; ++k) {
        uint8_t m = k < bw->mask.size() ? bw->mask[k] : 0;
        uint8_t x = k < bw->xor_.size() ? bw->xor_[k] : 0;
        (*dst)[k] = static_cast<uint8_t>(((*src)[k] & m) ^ x);
      }
    } else if (const auto* sh = std::get_if<ir::reg::Shift>(&op)) {
      // nft_bitwise_eval_lshift/rshift: host-order 32-bit words, carrying across words.
      if (sh->amount >= 32) return failf(EINVAL, "{}: shift by {}", what, sh->amount);
      uint32_t words = round4(sh->len) / 4;
      auto src = data_reg(regs, sh->sreg, words * 4, what);
      auto dst = data_reg(regs, sh->dreg, words * 4, what);
      if (!src) return std::unexpected(std::move(src).error());
      if (!dst) return std::unexpected(std::move(dst).error());
      uint32_t s = sh->amount, carry = 0;
      if (sh->left) {
        for (uint32_t k = words; k > 0; --k) {
          uint32_t w = rd32(*src + (k - 1) * 4);
          wr32(*dst + (k - 1) * 4, (w << s) | carry);
          carry = s ? w >> (32 - s) : 0;
        }
      } else {
        for (uint32_t k = 0; k < words; ++k) {
          uint32_t w = rd32(*src + k * 4);
          wr32(*dst + k * 4, carry | (w >> s));
          carry = s ? w << (32 - s) : 0;
        }
      }
    } else if (const auto* bo = std::get_if<ir::reg::ByteOrder>(&op)) {
      // nft_byteorder_eval indexes its source and destination as u32 arrays for every size, so a
      // 2-byte conversion of len 4 swaps the halves at byte offsets 0 and 4, not 0 and 2.
      if (bo->size != 2 && bo->size != 4 && bo->size != 8) return failf(EINVAL, "{}: byteorder size {}", what, bo->size);
      uint32_t units = bo->len / bo->size;
      uint32_t span = units ? (units - 1) * 4 + std::max<uint32_t>(bo->size, 4) : 0;
      auto src = data_reg(regs, bo->sreg, span, what);
      auto dst = data_reg(regs, bo->dreg, span, what);
      if (!src) return std::unexpected(std::move(src).error());
      if (!dst) return std::unexpected(std::move(dst).error());
      for (uint32_t k = 0; k < units; ++k) {
        uint8_t tmp[8];
        std::memcpy(tmp, *src + k * 4, bo->size);
        for (uint32_t j = 0; j < bo->size; ++j) (*dst)[k * 4 + j] = tmp[bo->size - 1 - j];
      }
    } else if (const auto* cm = std::get_if<ir::reg::Cmp>(&op)) {
      auto src = data_reg(regs, cm->sreg, static_cast<uint32_t>(cm->data.size()), what);
      if (!src) return std::unexpected(std::move(src).error());
      int d = std::memcmp(*src, cm->data.data(), cm->data.size());  // nft_cmp_eval: memcmp for every op
      bool holds;
      switch (cm->op) {
        case ir::Op::kEq: holds = d == 0; break;
        case ir::Op::kNe: holds = d != 0; break;
        case ir::Op::kLt: holds = d < 0; break;
        case ir::Op::kLe: holds = d <= 0; break;
        case ir::Op::kGt: holds = d > 0; break;
        case ir::Op::kGe: holds = d >= 0; break;
        default: return failf(EINVAL, "{}: cmp op {}", what, static_cast<int>(cm->op));
      }
      if (!holds) {
        verdict.code = kNftBreak;
        why = fmt::format("{}: cmp r{} {} failed", what, cm->sreg, ir::to_string(cm->op));
      }
    } else if (const auto* rg = std::get_if<ir::reg::Range>(&op)) {
      if (rg->from.size() != rg->to.size()) return failf(EINVAL, "{}: range bounds differ in length", what);
      auto src = data_reg(regs, rg->sreg, static_cast<uint32_t>(rg->from.size()), what);
      if (!src) return std::unexpected(std::move(src).error());
      int d1 = std::memcmp(*src, rg->from.data(), rg->from.size());
      int d2 = std::memcmp(*src, rg->to.data(), rg->to.size());
      bool mismatch = rg->negate ? (d1 >= 0 && d2 <= 0) : (d1 < 0 || d2 > 0);
      if (mismatch) {
        verdict.code = kNftBreak;
        why = fmt::format("{}: range r{} failed", what, rg->sreg);
      }
    } else if (const auto* lk = std::get_if<ir::reg::Lookup>(&op)) {
      const ir::Set* s = ir::find_set(t, lk->set);
      if (!s) return failf(ENOENT, "{}: set '{}' not found", what, lk->set);
      auto src = data_reg(regs, lk->sreg, s->key_len, what);
      if (!src) return std::unexpected(std::move(src).error());
      const ir::Element* e = set_lookup(*s, {*src, s->key_len});
      if ((e != nullptr) == lk->invert) {
        verdict.code = kNftBreak;
        why = fmt::format("{}: lookup @{} {}", what, lk->set, e ? "found" : "not found");
        continue;
      }
      if (e && lk->dreg) {
        if (s->verdict_map) {
          if (*lk->dreg != 0) return failf(EINVAL, "{}: verdict map into register {}", what, *lk->dreg);
          if (!e->verdict) return failf(EINVAL, "{}: map '{}' element without a verdict", what, lk->set);
          verdict.code = to_code(*e->verdict);
          verdict.chain = e->verdict->chain;
        } else {
          auto dst = data_reg(regs, *lk->dreg, round4(s->data_len), what);
          if (!dst) return std::unexpected(std::move(dst).error());
          std::memset(*dst, 0, round4(s->data_len));
          if (!e->data.empty()) std::memcpy(*dst, e->data.data(), std::min<size_t>(e->data.size(), s->data_len));
        }
      }
    } else if (const auto* sm = std::get_if<ir::reg::SetMeta>(&op)) {
      auto src = data_reg(regs, sm->sreg, 4, what);
      if (!src) return std::unexpected(std::move(src).error());
      switch (sm->key) {
        case ir::MetaKey::kMark: env.mark = rd32(*src); break;
        case ir::MetaKey::kPriority: env.priority = rd32(*src); break;
        default: return failf(EOPNOTSUPP, "evaluator: meta {} set not modelled", ir::to_string(sm->key));
      }
    }
  }

  if (verdict.code == kNftContinue) return StepOutcome::hold();
  if (verdict.code == kNftBreak) return StepOutcome::brk(why);
  auto v = to_verdict(verdict);
  if (!v) return std::unexpected(std::move(v).error());
  return StepOutcome::decide(*v);
}

}  // namespace nfbpf::eval
