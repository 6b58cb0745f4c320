#pragma once
// Rule counters that outlive programs. One BPF_MAP_TYPE_PERCPU_ARRAY of abi::Counter is shared
// by every generated program (bound under the name kCountersMapName); each rule that counts owns a
// stable slot, so reloading or swapping a chain keeps its counts. The generated code adds with
// atomic instructions on the per-CPU copy (cheap: never contended across CPUs, but safe against a
// softirq interrupting a process-context run on the same CPU). Userspace sums the CPUs.

#include <string>
#include <vector>

#include "codegen/abi/counter.h"
#include "codegen/emit/program.h"
#include "codegen/flavor/packet.h"
#include "codegen/kernel/objects.h"

namespace nfbpf::codegen::runtime {

inline constexpr std::string_view kCountersMapName = "counters";

class CounterTable {
 public:
  static Result<CounterTable> create(kernel::Kernel& k, uint32_t capacity,
                                     std::string name = "nfbpf_counters");
  CounterTable(CounterTable&&) = default;
  CounterTable& operator=(CounterTable&&) = default;

  // A free slot, zeroed; ENOSPC when full. Slots are reused lowest-first after release().
  Result<uint32_t> allocate();
  void release(uint32_t slot);

  Result<abi::Counter> read(uint32_t slot) const;  // summed over CPUs
  // Sets the slot to `value` (on CPU 0; the other CPUs' copies are zeroed), e.g. for
  // iptables' SET_ADD_COUNTERS or `nft reset counters`.
  Result<void> write(uint32_t slot, abi::Counter value);

  uint32_t capacity() const { return static_cast<uint32_t>(used_.size()); }
  const kernel::Map& map() const { return map_; }
  Result<void> pin(const std::string& path) { return map_.pin(path); }
  // The table pinned by an earlier daemon (nfbpfd --bpffs): counts kept.
  static Result<CounterTable> open_pinned(kernel::Kernel& k, const std::string& path, uint32_t capacity,
                                          std::string name = "nfbpf_counters");

 private:
  explicit CounterTable(kernel::Map m, uint32_t capacity) : map_(std::move(m)), used_(capacity, false) {}
  kernel::Map map_;
  std::vector<bool> used_;
};

// Emits "counter[slot] += {1, L3 length}" (the length stored by the flavor prologue; pass the
// PacketRef when emitting inside a subprogram). `counters` is the program's MapRef for
// kCountersMapName. Uses the key slot of `where`'s frame (r10 + kKeyOff by default). Clobbers r0-r5.
void emit_count(emit::Program& p, emit::MapRef counters, uint32_t slot, flavor::PacketRef where = {});

}  // namespace nfbpf::codegen::runtime
