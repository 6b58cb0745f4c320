#include "codegen/matcher/match.h"

#include "codegen/matcher/cmp.h"
#include "codegen/matcher/load.h"
#include "codegen/matcher/set_lookup.h"
#include "translate/ir/build.h"

namespace nfbpf::codegen::matcher {

namespace {

bool pow2(uint32_t n) { return n == 1 || n == 2 || n == 4 || n == 8; }

}  // namespace

Result<void> match_supported(const flavor::FlavorOps& f, const ir::Table& t, const ir::Match& m, bool have_nfct) {
  if (m.key.empty()) return fail(EINVAL, "match with an empty key");
  for (const auto& fld : m.key) NFBPF_TRYV(field_supported(f, fld, have_nfct));
  bool ordered = m.op == ir::Op::kLt || m.op == ir::Op::kLe || m.op == ir::Op::kGt || m.op == ir::Op::kGe ||
                 m.op == ir::Op::kRange || m.op == ir::Op::kNotRange;
  if (ordered && m.key.size() == 1 && m.key[0].host_order && !pow2(m.key[0].len) && m.key[0].len <= 8)
    return failf(EOPNOTSUPP, "{}: ordered compare of a {}-byte host-order field", field_label(m.key[0]), m.key[0].len);
  if (m.op == ir::Op::kInSet || m.op == ir::Op::kNotInSet) {
    if (!ir::find_set(t, m.set)) return failf(ENOENT, "set '{}' not found", m.set);
  }
  return {};
}

Result<bool> emit_match(EmitCtx& c, const ir::Match& m, emit::Label& fail, const MatchPlan& plan) {
  NFBPF_TRYV(match_supported(c.f, c.table, m, c.skb_nfct_offset.has_value()));
  int16_t mark = c.stack.mark();
  Result<void> r;
  bool in_r1 = false;
  if (m.op == ir::Op::kInSet || m.op == ir::Op::kNotInSet) {
    r = emit_set_match(c, m, fail);
  } else {
    KeyRef k;
    if (m.key.size() == 1) {
      Loaded l{Loaded::Kind::kReg, m.key[0].len};
      if (!plan.reuse_r1) {
        auto ld = load_field(c, m.key[0], plan.unavailable ? *plan.unavailable : fail);
        if (!ld) return std::unexpected(std::move(ld).error());
        l = *ld;
      }
      k = KeyRef::of(l, m.key[0].host_order);
      in_r1 = k.in_reg;
    } else {
      // A concatenation compared as a whole: assembled on the stack, compared bytewise.
      int16_t slot = 0;
      NFBPF_TRYV(emit_build_key(c, m.key, std::nullopt, false, slot, fail));
      k = KeyRef{.in_reg = false, .base = kTmp, .off = at(slot), .len = ir::build::key_len(m.key), .numeric = false};
    }
    if (m.op == ir::Op::kRange || m.op == ir::Op::kNotRange)
      r = emit_range(c.p, k, m.mask, m.op == ir::Op::kNotRange, m.value, m.value_hi, fail);
    else
      r = emit_cmp(c.p, k, m.mask, m.op, m.value, fail);
  }
  c.stack.release_to(mark);
  if (!r) return std::unexpected(std::move(r).error());
  return in_r1;
}

}  // namespace nfbpf::codegen::matcher
