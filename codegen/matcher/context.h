#pragma once
// What every matcher emitter gets: the program being emitted, the flavor, the table (for sets),
// the prologue's layout, the current frame's stack allocator and the names of the BPF maps that
// hold the table's sets. Register and stack roles: codegen/prologue/state.h (r6 ctx, r7 packet
// ref, r8/r9 header pointers; r0-r5 scratch).

#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <vector>
#include <optional>
#include <string>

#include "codegen/emit/program.h"
#include "codegen/emit/stack.h"
#include "codegen/flavor/flavor.h"
#include "codegen/prologue/state.h"
#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::codegen::matcher {

// Matcher temporaries (map keys, register files, interface names) live in the MAIN frame, below
// the prologue's state block, and are addressed through r7 from every frame (as are the packet
// slots, flavor/packet.h): a chain subprogram's own frame then uses no stack, so jumps nest as
// deep as BPF's call frames allow within its 512-byte stack for all frames together. Temporaries never live across a call (a
// jump/goto ends the rule's use of them), so every frame may reuse the same area.
inline constexpr emit::Reg kTmp = prologue::kPkt;
// Offset from r7 of a temporary's main-frame slot (as TempStack hands them out).
inline int16_t at(int16_t slot) { return prologue::rel(slot); }

// Bump allocator of temporaries in the main frame below the state block (mark/release like
// emit::StackAlloc), remembering the deepest offset ever handed out (the frame size).
class TempStack {
 public:
  Result<int16_t> alloc(uint16_t size, uint16_t align = 8) {
    int32_t off = (top_ - size) & ~static_cast<int32_t>(align - 1);
    if (off < -emit::kStackSize) return failf(ENOSPC, "BPF stack exhausted ({} bytes wanted)", size);
    top_ = static_cast<int16_t>(off);
    deepest_ = std::min(deepest_, top_);
    return top_;
  }
  int16_t mark() const { return top_; }
  void release_to(int16_t m) { top_ = m; }
  int16_t deepest() const { return deepest_; }

 private:
  int16_t top_ = prologue::kMainFreeTop;
  int16_t deepest_ = prologue::kMainFreeTop;
};

// Code kept off the hot path (the per-field slow-path packet reads), emitted after the frame's
// last instruction so the rules' fast paths stay dense. It owns the labels its bodies use, so
// they outlive the emitter that queued them (labels passed in, such as a rule's `next`, must
// live until emit_all() too).
class ColdCode {
 public:
  emit::Label& label(emit::Program& p) {
    labels_.push_back(std::make_unique<emit::Label>(p));
    return *labels_.back();
  }
  void add(std::function<void()> body) { bodies_.push_back(std::move(body)); }
  // A queued body will jump to `l`: whoever decides whether to bind `l` (and whether code after
  // it is reachable) must count that jump although it is not emitted yet.
  void will_jump_to(const emit::Label& l) { targets_.insert(&l); }
  bool targets(const emit::Label& l) const { return targets_.contains(&l); }
  // Bodies queued and not emitted yet (the chain compiler estimates their size from it).
  size_t queued() const { return bodies_.size(); }
  // Emits every queued body; call where nothing falls through (after an exit or a jump).
  // A body may queue more (a slow path of its own): those run in the same call, after it. Each is
  // moved out before it runs, as queuing may reallocate the vector under it.
  void emit_all() {
    for (size_t i = 0; i < bodies_.size(); ++i) {
      std::function<void()> body = std::move(bodies_[i]);
      body();
    }
    bodies_.clear();
  }

 private:
  std::vector<std::unique_ptr<emit::Label>> labels_;
  std::vector<std::function<void()>> bodies_;
  std::set<const emit::Label*> targets_;
};

struct EmitCtx {
  emit::Program& p;
  const flavor::FlavorOps& f;
  const ir::Table& table;
  prologue::Layout layout;
  TempStack& stack;
  // The program's map name for a set of the table (declared with Program::map by the caller).
  std::function<Result<std::string>(const std::string& set)> set_map;
  // Offset of sk_buff._nfct (vmlinux BTF), for ct state at netfilter hooks; absent: refused.
  std::optional<uint32_t> skb_nfct_offset;
  // Where slow paths go; null: inline.
  ColdCode* cold = nullptr;
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
