#pragma once
// Stable slots for per-rule state (counters, quotas, limit buckets): a slot belongs to a key
// (table, chain, rule handle, step index, or a named object) and keeps its number for as long as
// the key lives, so recompiling and swapping a chain keeps counts and buckets. The daemon keeps
// one SlotAllocator per state table for the life of the ruleset and calls release_except() after
// a commit with the keys still in use.

#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::codegen::chain {

// The family is part of the key: `ip filter` and `ip6 filter` are different tables.
struct SlotKey {
  ir::Family family = ir::Family::kIp;
  std::string table, chain;
  uint64_t handle = 0;
  uint32_t step = 0;
  std::string object;  // named objects: "counter:<name>"; rule state: empty
  friend auto operator<=>(const SlotKey&, const SlotKey&) = default;
};

class SlotAllocator {
 public:
  explicit SlotAllocator(uint32_t capacity) : used_(capacity, false) {}
  // `what` names the state in the ENOSPC message ("all N <what> slots are in use<hint>"), e.g.
  // the daemon option that sets the capacity.
  SlotAllocator(uint32_t capacity, std::string what, std::string hint)
      : used_(capacity, false), what_(std::move(what)), hint_(std::move(hint)) {}

  struct Slot {
    uint32_t index;
    bool fresh;  // newly assigned: its state must be initialised before the program runs
  };
  // The key's slot, assigning the lowest free one the first time; ENOSPC when full.
  Result<Slot> get(const SlotKey& k);
  std::optional<uint32_t> find(const SlotKey& k) const;
  // Frees every slot whose key is not in `live`; returns the freed slot numbers.
  std::vector<uint32_t> release_except(const std::set<SlotKey>& live);
  uint32_t capacity() const { return static_cast<uint32_t>(used_.size()); }
  // Every key and its slot (to save them); restore() puts one back (a later daemon adopting the
  // state maps: the same keys must find the same slots). EINVAL if the slot is out of range or taken.
  const std::map<SlotKey, uint32_t>& assigned() const { return slots_; }
  Result<void> restore(const SlotKey& k, uint32_t slot);

 private:
  std::map<SlotKey, uint32_t> slots_;
  std::vector<bool> used_;
  std::string what_ = "state", hint_;
};

}  // namespace nfbpf::codegen::chain
