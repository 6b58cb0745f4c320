#pragma once
// What every matcher emitter gets: the program being emitted, the flavor, the table (for sets),
// the prologue's layout, the current frame's stack allocator and the names of the BPF maps that
// hold the table's sets. Register and stack roles: codegen/prologue/state.h (r6 ctx, r7 packet
// ref, r8/r9 header pointers; r0-r5 scratch).

#include <functional>
#include <optional>
#include <string>

#include "codegen/emit/program.h"
#include "codegen/emit/stack.h"
#include "codegen/flavor/flavor.h"
#include "codegen/prologue/state.h"
#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::codegen::matcher {

struct EmitCtx {
  emit::Program& p;
  const flavor::FlavorOps& f;
  const ir::Table& table;
  prologue::Layout layout;
  emit::StackAlloc& stack;
  // The program's map name for a set of the table (declared with Program::map by the caller).
  std::function<Result<std::string>(const std::string& set)> set_map;
  // Offset of sk_buff._nfct (vmlinux BTF), for ct state at netfilter hooks; absent: refused.
  std::optional<uint32_t> skb_nfct_offset;
};

// A key read for a compare or a lookup.
struct Loaded {
  enum class Kind : uint8_t { kReg, kMem };
  Kind kind = Kind::kReg;
  // kReg: r1 holds the value: the field's bytes as a little-endian load (payload), or the
  //       numeric host-order value (meta/ct), zero-extended; len is 1, 2, 4 or 8.
  // kMem: r1 points at `len` readable bytes (packet or stack).
  uint32_t len = 0;
};

}  // namespace nfbpf::codegen::matcher
