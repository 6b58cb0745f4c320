// range / not-range: lo <= (key & mask) <= hi, in the key's order (cmp.h).
#include "codegen/matcher/cmp.h"

namespace nfbpf::codegen::matcher {

Result<void> emit_range(emit::Program& p, const KeyRef& k, const std::optional<ir::Bytes>& mask, bool negate,
                        const ir::Bytes& lo, const ir::Bytes& hi, emit::Label& fail) {
  if (!negate) {
    emit::Label above_lo(p), in(p);
    NFBPF_TRYV(detail::emit_order(p, k, mask, lo, /*greater=*/true, /*or_equal=*/true, above_lo, fail));
    p.bind(above_lo);
    NFBPF_TRYV(detail::emit_order(p, k, mask, hi, /*greater=*/false, /*or_equal=*/true, in, fail));
    p.bind(in);
    return {};
  }
  emit::Label out(p), not_below(p);
  NFBPF_TRYV(detail::emit_order(p, k, mask, lo, /*greater=*/false, /*or_equal=*/false, out, not_below,
                                /*hold_next=*/false));
  p.bind(not_below);
  NFBPF_TRYV(detail::emit_order(p, k, mask, hi, /*greater=*/true, /*or_equal=*/false, out, fail));
  p.bind(out);
  return {};
}

}  // namespace nfbpf::codegen::matcher
