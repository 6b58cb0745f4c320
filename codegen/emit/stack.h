#pragma once
// Stack slots for matchers, carved from the free region [-512, kFreeStackTop) of regs.h's layout.
// Allocation is a bump pointer with marks: an emitter that needs scratch memory takes a mark,
// allocates, and releases back to the mark when its code is emitted (slots are only meaningful
// within the code that uses them; the verifier tracks what is initialised).

#include <cstdint>

#include "codegen/emit/regs.h"
#include "common/result.h"

namespace nfbpf::codegen::emit {

class StackAlloc {
 public:
  // Offset (from r10) of `size` bytes aligned to `align` (a power of two <= 8); ENOSPC if full.
  Result<int16_t> alloc(uint16_t size, uint16_t align = 8) {
    int32_t off = top_ - size;
    off &= ~static_cast<int32_t>(align - 1);
    if (off < -kStackSize) return failf(ENOSPC, "BPF stack exhausted ({} bytes wanted)", size);
    top_ = static_cast<int16_t>(off);
    return top_;
  }
  int16_t mark() const { return top_; }
  void release_to(int16_t mark) { top_ = mark; }
  // Deepest offset handed out so far (for diagnostics).
  int16_t top() const { return top_; }

 private:
  int16_t top_ = kFreeStackTop;
};

}  // namespace nfbpf::codegen::emit
