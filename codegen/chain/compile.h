#pragma once
// The chain compiler: the single entry point from IR to BPF.
//
//   chain::RuntimeTables rt = *chain::RuntimeTables::create(kernel);      // once per daemon
//   chain::CompileOptions opt{.slots = &rt.slots, .skb_nfct_offset = rt.nfct_offset};
//   auto cc = chain::compile_chain(table, table.chains[i], flavor::Flavor::kNetfilter, opt);
//   auto loaded = chain::load_chain(kernel, *cc, rt);   // load.h: maps created, filled, program loaded
//   dispatcher.install(loaded->prog);                   // runtime/dispatcher.h: atomic swap
//
// One program per base chain (or several for a chain too big for one: blocks.h). The base chain's rules are the main program; every regular chain
// reachable through jump/goto (rule verdicts, verdict maps, register-block verdicts) is one
// BPF-to-BPF subprogram, emitted once, called with r1 = ctx, r2 = packet ref, r3/r4 = header
// pointers (prologue/state.h), returning 0 (continue: the chain returned or ended), 1 (accept) or
// 2 (drop). nft_do_chain's semantics map onto calls:
//   jump X   call X; 0 -> next rule of the caller, else that verdict
//   goto X   call X; its result is the caller's result (0: the caller returns / the base chain's
//            policy applies)
//   return   0 (a subprogram) / the policy (the base chain)
// BPF allows 8 call frames (MAX_CALL_FRAMES) and 512 bytes of stack across them, so jumps nest at
// most kMaxJumpDepth = 7 deep (nft allows 16): deeper chains are refused (EOPNOTSUPP, naming the
// chain). Subprogram frames use no stack of their own (the packet slots, the slow path's dynptr
// and bounce buffer and matcher temporaries all live in the main frame, reached through r7), so
// the depth is limited by the call frames only, unless the temporaries are unusually large.
//
// Per-rule state lives in shared maps indexed by stable slots (slots.h): counters (c1's
// runtime::CounterTable, map "counters"), quotas (map "nfbpf_quota", u64 bytes consumed) and
// limits (map "nfbpf_limit", u64 theoretical arrival time of a GCRA, which is nft's token bucket
// with the state folded into one word, updated with a compare-and-exchange: exact, shared by all
// CPUs). Sets become maps of their own (sets.h).
//
// Policy counters: every packet that reaches a base chain's policy (end of the chain, `return`,
// a `goto` whose chain returns) is counted, as nft_do_chain updates the base chain's stats there,
// in the counter slot keyed policy_counter_key(table, chain), so the count survives recompiles
// and program swaps like the rule counters. Counted whenever CompileOptions::slots is set and
// CompileOptions::count_policy is on.
//
// Empty base chains at a netfilter hook (nothing but the policy) compile to `r0 = policy; exit`
// when the policy is not counted: no packet byte is read (the N = 0 cost; docs/performance.md).

#include <optional>
#include <string>
#include <vector>

#include "codegen/chain/blocks.h"
#include "codegen/chain/sets.h"
#include "codegen/chain/slots.h"
#include "codegen/emit/program.h"
#include "codegen/flavor/flavor.h"
#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::codegen::chain {

inline constexpr int kMaxJumpDepth = 7;  // BPF's 8 call frames: main + 7 subprograms
inline constexpr std::string_view kQuotaMapName = "nfbpf_quota";
inline constexpr std::string_view kLimitMapName = "nfbpf_limit";
inline constexpr std::string_view kPolicyCounterObject = "policy";
// The prog array that chains the blocks of a split chain (blocks.h); block k sits in slot k.
inline constexpr std::string_view kBlocksMapName = "nfbpf_blocks";

// The counter slot key of a base chain's policy (handle 0 is never a rule's).
inline SlotKey policy_counter_key(ir::Family family, std::string table, std::string chain) {
  return SlotKey{family, std::move(table), std::move(chain), 0, 0, std::string(kPolicyCounterObject)};
}

// Counter slots are shared by every program of a daemon: one per counting rule (iptables counts
// every rule, so a 10 000-rule iptables ruleset needs 10 000), per named counter and per policy
// counter. The map is per-CPU (16 bytes per slot per CPU, 1 MiB per CPU at 65 536 slots), as the
// kernel's own per-rule nft counters are.
inline constexpr uint32_t kCounterSlots = 65536;

struct StateSlots {
  SlotAllocator counters{kCounterSlots};
  SlotAllocator quotas{1024};
  SlotAllocator limits{1024};
};

struct CompileOptions {
  StateSlots* slots = nullptr;                // required when the chain has stateful statements
  std::optional<uint32_t> skb_nfct_offset;    // sk_buff._nfct (vmlinux BTF): enables ct state
  std::string prog_name;                      // default: the chain's name
  // IPv6 extension headers the prologue walks; 0: prologue::kMaxIpv6ExtHeaders (for measuring
  // verification cost against the count, see docs/codegen.md).
  int ipv6_ext_headers = 0;
  // Count the packets that reach a base chain's policy (policy_counters). The kernel counts them
  // only for base chains created with NFTA_CHAIN_COUNTERS, and nfbpfd lists none from BPF: it
  // turns this off, saving a per-CPU map update on every packet that ends at the policy.
  bool count_policy = true;
  // Where a base chain too big for one program is cut into blocks (blocks.h); tests shrink them.
  BlockLimits blocks;
};

struct SlotUse {
  SlotKey key;
  uint32_t slot = 0;
  bool fresh = false;       // first use: initialise before running
  uint64_t initial = 0;     // quotas: bytes already consumed
};

struct CompiledChain {
  emit::Program program;
  flavor::Flavor flavor = flavor::Flavor::kNetfilter;
  std::vector<SetMap> sets;
  // Every counter slot the program uses: rule counters, named counters and the policy counters
  // (so keeping `counters`' keys alive keeps every count).
  std::vector<SlotUse> counters, quotas, limits;
  // The policy counters alone (also in `counters`), one per base chain whose policy can be
  // reached, in the order the chains run; key: policy_counter_key(family, table, chain).
  std::vector<SlotUse> policy_counters;
  std::vector<std::string> subprograms;  // regular chains compiled in, in emission order
  // A base chain split into blocks (blocks.h): `program` is block 0, these are blocks 1.. in
  // order; block_first_rule[k] is the index (in the base chain's rules) of block k's first rule.
  // Both empty when the chain fits one program. `sets`, `counters`, `quotas`, `limits` cover
  // every block.
  std::vector<emit::Program> blocks;
  std::vector<size_t> block_first_rule;
  size_t block_count() const { return 1 + blocks.size(); }
};

Result<CompiledChain> compile_chain(const ir::Table& t, const ir::Chain& base, flavor::Flavor f,
                                    const CompileOptions& opt);

// Several base chains that share one attach point (same hook, family and priority: one netfilter
// link each would get EBUSY), in the order they run — nft runs the most recently registered
// first. As in nf_hook_slow: a drop (verdict or policy) ends the hook; an accept goes on to the
// next chain; the last chain's accept lets the packet through. The chains may come from
// different tables (each keeps its own sets, regular chains and counter slots); the prologue
// parses for the union of their families.
struct HookChain {
  const ir::Table* table = nullptr;
  const ir::Chain* chain = nullptr;
};
Result<CompiledChain> compile_hook(const std::vector<HookChain>& chains, flavor::Flavor f, const CompileOptions& opt);

}  // namespace nfbpf::codegen::chain
