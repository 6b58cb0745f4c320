#pragma once
// Loading a CompiledChain: the shared state tables (RuntimeTables, created once per daemon and
// kept across reloads so counters, quotas and limit buckets survive program replacement), the
// chain's own set maps (created and filled here), then the program itself.

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "codegen/chain/compile.h"
#include "codegen/kernel/objects.h"
#include "codegen/runtime/counters.h"

namespace nfbpf::codegen::chain {

struct RuntimeTables {
  runtime::CounterTable counters;
  kernel::Map quotas;  // ARRAY of u64 bytes consumed, by quota slot
  kernel::Map limits;  // ARRAY of u64 GCRA arrival time, by limit slot
  StateSlots slots;    // matching slot allocators (CompileOptions::slots)
  std::optional<uint32_t> nfct_offset;  // sk_buff._nfct, when the kernel's BTF has it
  // The ring buffer of log statements (log.h), created by the first program that logs; nfbpfd
  // reads it (nfnl-server/offload/log_events.h).
  std::shared_ptr<kernel::Map> log_ring;

  // `counter_slots`: the per-CPU counter map's size (16 bytes per slot per CPU; nfbpfd
  // --counter-slots). A chain needing more counters than that is refused with ENOSPC.
  static Result<RuntimeTables> create(kernel::Kernel& k, uint32_t counter_slots = kCounterSlots);
  // Persistence (nfbpfd --bpffs): the three state maps pinned as <dir>/counters, quotas, limits;
  // open_pinned() opens them in a later daemon (values kept; the slot allocators start empty and
  // are restored by the caller).
  Result<void> pin(const std::string& dir);
  static Result<RuntimeTables> open_pinned(kernel::Kernel& k, const std::string& dir,
                                           uint32_t counter_slots = kCounterSlots);
  static void unpin(const std::string& dir);
  // CompileOptions wired to these tables.
  CompileOptions options(std::string prog_name = {}) { return {.slots = &slots, .skb_nfct_offset = nfct_offset, .prog_name = std::move(prog_name)}; }
};

struct LoadedChain {
  kernel::Prog prog;  // what the dispatcher runs (block 0 of a split chain)
  std::map<std::string, kernel::Map, std::less<>> set_maps;  // by set_map_key (sets.h)
  // A split chain (blocks.h): blocks 1.. and the prog array that chains them (slot k = block k).
  // Keep the array open while the chain may run: the kernel empties a prog array when its last
  // user reference (fd or pin) goes.
  std::vector<kernel::Prog> blocks;
  std::optional<kernel::Map> block_array;
};

// Creates and fills the set maps, initialises fresh state slots, loads the program (every block
// of a split chain, then fills their prog array). `log` (if given) receives the verifier log
// (level 1) on success too (block 0's).
Result<LoadedChain> load_chain(kernel::Kernel& k, const CompiledChain& cc, RuntimeTables& rt, std::string* log = nullptr);

}  // namespace nfbpf::codegen::chain
