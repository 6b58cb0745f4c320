#pragma once
// A classified block (ir::Rule::classified, made by translate/passes/classify.h) as BPF: one map
// lookup per field, an AND of bitmaps, the lowest set bit, then that rule's counter and verdict.
//
//   for each field f (at most 4):
//     r0 = lookup(field map f, value)             hash (exact values) or LPM trie (segments),
//                                                 value = the bitmap: `words` u64s
//     missing field or no element: r0 = lookup(wildcards, index of f), or, when every rule
//     tests the field (an empty wildcard), straight to `none`; such fields go first
//     spill r0 to a stack temporary
//   r1..r4 = the spilled pointers
//   for each word w:  r0 = r1[w] & r2[w] & ...;  if r0 != 0: r5 = base + 64 w, goto found
//   goto none
//   found: r0 &= -r0                              the lowest set bit alone
//          r0 = (r0 * 0x022fdd63cc95386d) >> 58   its de Bruijn index (BPF has no ctz)
//          e = lookup(rules, r5 + r0)             {counter slots, verdict} of that rule: the
//                                                 array is filled in de Bruijn order, so no
//                                                 table maps the index back to the bit
//          count e.slots (unless kNoCounter); dispatch on e.verdict (accept / drop / return)
//   none:  (falls through to the rule after the block)
//
// Two ARRAY maps per program hold what all its blocks share: `wildcards` (one bitmap per field
// of each block) and `rules` (64 entries per bitmap word of each block); the field maps are the
// IR's sets (chain/sets.h builds them like any data map). Clobbers r0-r5.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "codegen/chain/sets.h"
#include "codegen/matcher/context.h"

namespace nfbpf::codegen::chain {

inline constexpr uint32_t kNoCounter = 0xffffffff;

// What the rule a bit stands for does when it is the first match.
struct ClassifiedRule {
  // Its trailing counters (`counter counter drop`: nfbpf verify adds one to every rule).
  std::array<uint32_t, 2> counter_slots{kNoCounter, kNoCounter};
  ir::VerdictKind verdict = ir::VerdictKind::kDrop;  // accept, drop or return
};

// The two shared arrays of one program, filled block by block and turned into maps at the end.
class ClassifyMaps {
 public:
  // `suffix` keeps the names apart between the programs of a split chain (blocks.h).
  explicit ClassifyMaps(std::string suffix) : suffix_(std::move(suffix)) {}
  std::string wildcards_name() const { return "clsw" + suffix_; }
  std::string rules_name() const { return "clsr" + suffix_; }
  uint32_t add_wildcard(const ir::Bytes& bitmap);
  uint32_t add_rules(const std::vector<ClassifiedRule>& rules, uint32_t words);  // the block's base index
  // The maps (nothing when no block was compiled), for CompiledChain::sets.
  std::vector<SetMap> maps(ir::Family family, const std::string& table) const;

 private:
  std::string suffix_;
  std::vector<ir::Bytes> wildcards_;
  std::vector<ir::Bytes> rules_;  // 8-byte values {slot, verdict}
};

// The rule of the block that bit `bit` stands for, for each of the 64 de Bruijn indices of a word
// (index -> bit position). Exposed for the test of the constant.
uint32_t debruijn_bit(uint32_t index);

// Emits the block. `verdict` emits the jump for a rule verdict (the chain compiler's; never falls
// through); a packet no rule matches ends up at `none`, which the caller binds after the block.
Result<void> emit_classified(matcher::EmitCtx& c, const ir::Rule::Classified& cl, const std::vector<ClassifiedRule>& rules,
                             ClassifyMaps& maps, emit::Label& none,
                             const std::function<Result<void>(ir::VerdictKind)>& verdict);

}  // namespace nfbpf::codegen::chain
