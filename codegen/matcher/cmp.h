#pragma once
// Comparisons of a loaded key with constants: cmp (eq/ne/lt/le/gt/ge), range (range/not-range)
// and the mask applied first ((key & mask) op value). Semantics are the IR's: numeric in the
// field's byte order for one host-order field of up to 8 bytes, memcmp (big-endian, byte by byte)
// otherwise. Keys longer than 8 bytes (IPv6 addresses, interface names) are compared in 8/4/2/1
// byte chunks, early-out per chunk.
//
// All emitters fall through when the comparison holds and jump to `fail` otherwise. They read r1
// (the Loaded key, kept intact) and clobber r2-r3.

#include <optional>

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

// A key in memory at (base + off, len bytes) or in r1 (Loaded::kReg).
struct KeyRef {
  bool in_reg = false;
  emit::Reg base = emit::Reg::R1;
  int16_t off = 0;
  uint32_t len = 0;
  bool numeric = false;  // host-order integer in a register: ordered compares are numeric

  static KeyRef of(const Loaded& l, bool host_order) {
    KeyRef k;
    k.in_reg = l.kind == Loaded::Kind::kReg;
    k.len = l.len;
    k.numeric = k.in_reg && host_order;
    return k;
  }
};

// cmp.cpp: op in kEq..kGe.
Result<void> emit_cmp(emit::Program& p, const KeyRef& k, const std::optional<ir::Bytes>& mask, ir::Op op,
                      const ir::Bytes& value, emit::Label& fail);
// range.cpp: op kRange / kNotRange, [lo, hi] inclusive.
Result<void> emit_range(emit::Program& p, const KeyRef& k, const std::optional<ir::Bytes>& mask, bool negate,
                        const ir::Bytes& lo, const ir::Bytes& hi, emit::Label& fail);

namespace detail {
// Ordered comparison of the key with `v`: reaches `hold` when key (strict) v, or when equal and
// or_equal; otherwise `miss`. `greater` selects > (else <). The caller binds `hold` right after
// (hold_next) or `miss` right after (!hold_next): that one is reached by falling through.
Result<void> emit_order(emit::Program& p, const KeyRef& k, const std::optional<ir::Bytes>& mask,
                        const ir::Bytes& v, bool greater, bool or_equal, emit::Label& hold, emit::Label& miss,
                        bool hold_next = true);
}  // namespace detail

}  // namespace nfbpf::codegen::matcher
