#pragma once
// Mask facts the passes share: which masks are prefixes, and in which fields a prefix mask
// selects one interval of values.

#include <cstdint>
#include <optional>

#include "translate/ir/ir.h"

namespace nfbpf::translate::passes {

// The number of leading one bits when `mask` is a prefix mask (ones, then only zeros); nullopt
// for any other mask.
std::optional<uint32_t> prefix_bits(const ir::Bytes& mask);

// Whether a field's values are ordered byte-wise (big-endian), the order in which a prefix mask
// selects an interval; host-order fields of up to 8 bytes compare as numbers instead.
inline bool bytewise(const ir::Field& f) { return !(f.host_order && f.len <= 8); }

}  // namespace nfbpf::translate::passes
