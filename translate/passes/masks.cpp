#include "translate/passes/masks.h"

namespace nfbpf::translate::passes {

std::optional<uint32_t> prefix_bits(const ir::Bytes& mask) {
  uint32_t bits = 0;
  bool zeros = false;
  for (uint8_t b : mask)
    for (int i = 7; i >= 0; --i) {
      const bool one = (b >> i) & 1;
      if (one && zeros) return std::nullopt;
      if (one) ++bits;
      else zeros = true;
    }
  return bits;
}

}  // namespace nfbpf::translate::passes
