#pragma once
// Splitting a big base chain into blocks: one BPF program per block, chained by tail calls.
//
// One program cannot hold an arbitrarily long chain: the verifier stops at 1 000 000 processed
// instructions (E2BIG), its time grows with the program, and a run of rules compiled as
// "if key == X goto hit" (one not-taken compare per rule, see compile.cpp) leaves one pending
// branch per rule on the verifier's stack, which it caps at 8 192 (BPF_COMPLEXITY_LIMIT_JMP_SEQ).
// So compile_hook measures the chain once (instructions and pending branches per rule) and, when
// it does not fit one program, cuts it into blocks of consecutive base-chain rules. Each block is a
// whole program: the prologue (it parses the packet again: a few ns, no state to carry), its
// rules, then `bpf_tail_call(ctx, nfbpf_blocks, k + 1)` where the next block starts, and the
// chain's policy behind it (reached only if the tail call fails, which needs a missing slot: the
// dispatcher's empty-slot fallback is the policy too). Every verdict ends the packet inside its
// block, so nothing but the packet crosses a boundary; per-rule counters live in the shared
// counter map by stable slot, so they stay exact whichever program counts.
//
// Tail calls: the kernel allows 33 per packet (MAX_TAIL_CALL_CNT). The dispatcher spends one and
// each boundary one more, so at most kMaxBlocks = 32 blocks: beyond that the chain is refused
// (EOPNOTSUPP) with the sizes that did not fit. Regular chains are BPF-to-BPF subprograms, not
// tail calls, so jumps do not spend the budget (each block that calls one carries its own copy).

#include <cstddef>
#include <span>
#include <vector>

#include "common/result.h"

namespace nfbpf::codegen::chain {

inline constexpr size_t kMaxBlocks = 32;  // 33 tail calls per packet, one for the dispatcher

struct BlockLimits {
  // Instructions per block: under the verifier's 1M processed-instruction limit with a wide
  // margin (a rule that calls subprograms is verified once per call) and loads in well under a
  // second (docs/codegen.md "Big chains").
  size_t max_insns = 250'000;
  // Pending branches per block (RuleCost::pending): the verifier's stack holds at most 8 192
  // (BPF_COMPLEXITY_LIMIT_JMP_SEQ); the rest is headroom for the prologue's and subprograms'.
  size_t max_pending = 7'500;
  // The verifier's processed instructions per block (RuleCost::verify): it stops at 1 000 000
  // (E2BIG); the rest is headroom for the estimate.
  size_t max_verify = 800'000;
  size_t max_blocks = kMaxBlocks;
  // Soft budgets: blocks are planned within them too while that takes at most max_blocks blocks
  // (else within the hard ones above alone), so ordinary chains load quickly and far from E2BIG.
  // - Verifier work: a mix of rule shapes leaves many distinct states at each rule (header slices
  //   direct or through bpf_dynptr_slice, L4 protocol known or not, classify pointers spilled, ...)
  //   and each explores the rules after it: the 3 000-rule mix of compat-tests/longchain processed
  //   more than 1 000 000 instructions for 42 328 of code (14 875 classified). Every instruction
  //   is assumed processed verify_per_insn times.
  size_t verify_per_insn = 24;
  // Load work: the kernel patches every inlined helper call (each counter's per-CPU array lookup)
  // by moving the whole program and re-adjusting every jump, so loading grows with instructions x
  // calls (6 000 counting `ip saddr X` rules: 84 252 insns in one program, 6.5 s, 80% of it
  // patching and stack liveness; 1 500 of them: 0.37 s).
  size_t max_load_work = 40'000'000;
  // Multiplies every verifier-work estimate: a block refused with E2BIG is planned again with it
  // raised (offload_hook: compile_hook + load_chain).
  size_t verify_scale = 1;
};

// What one base-chain rule costs in the program measured as a whole.
struct RuleCost {
  size_t insns = 0;        // its instructions, slow-path code it queued included
  // Conditional jumps into its slow-path code ("if key == X goto hit", "if r8 == 0 goto slice"):
  // the verifier keeps one state per such jump pending while it follows the rules after it.
  size_t pending = 0;
  // Instructions the verifier is expected to process for it, when more than `insns`: a rule whose
  // tests sit in cold code (compile.cpp emit_inverted_multi) is explored once per state the
  // prologue leaves (about 7) plus the way back to the hot path: kColdVerifyFactor x its size.
  size_t verify = 0;
  size_t verified() const { return verify > insns ? verify : insns; }
  // Helper and kfunc calls in it (the verifier patches each inlined one: BlockLimits::max_load_work).
  size_t calls = 0;
};

// Measured: 2 000 `ip saddr A tcp dport P` rules (37 instructions each, hot and cold) made the
// verifier process 295 instructions per rule.
inline constexpr size_t kColdVerifyFactor = 8;

// The first rule of each block (the first is always 0) such that each block's rules plus `fixed`
// instructions (prologue, policy, subprograms: what every block repeats) stay within the limits.
// A single rule larger than the budget gets a block of its own (the verifier has the last word).
// More than max_blocks blocks: EOPNOTSUPP.
Result<std::vector<size_t>> plan_blocks(std::span<const RuleCost> rules, size_t fixed, const BlockLimits& lim = {});

// Whether a program of `insns` instructions with `calls` helper calls and `verify` estimated
// verifier work (before verify_scale) stays within the soft budgets.
bool within_soft_budgets(size_t insns, size_t calls, size_t verify, const BlockLimits& lim);

// Whether the measured chain fits one program.
bool fits_one_program(std::span<const RuleCost> rules, size_t fixed, const BlockLimits& lim = {});

}  // namespace nfbpf::codegen::chain
