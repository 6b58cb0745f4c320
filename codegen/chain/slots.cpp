#include "codegen/chain/slots.h"

namespace nfbpf::codegen::chain {

Result<SlotAllocator::Slot> SlotAllocator::get(const SlotKey& k) {
  if (auto it = slots_.find(k); it != slots_.end()) return Slot{it->second, false};
  for (uint32_t i = 0; i < used_.size(); ++i) {
    if (used_[i]) continue;
    used_[i] = true;
    slots_.emplace(k, i);
    return Slot{i, true};
  }
  return failf(ENOSPC, "all {} {} slots are in use{}", used_.size(), what_, hint_);
}

Result<void> SlotAllocator::restore(const SlotKey& k, uint32_t slot) {
  if (slot >= used_.size() || used_[slot] || slots_.contains(k)) return failf(EINVAL, "slot {} cannot be restored", slot);
  used_[slot] = true;
  slots_.emplace(k, slot);
  return {};
}

std::optional<uint32_t> SlotAllocator::find(const SlotKey& k) const {
  auto it = slots_.find(k);
  if (it == slots_.end()) return std::nullopt;
  return it->second;
}

std::vector<uint32_t> SlotAllocator::release_except(const std::set<SlotKey>& live) {
  std::vector<uint32_t> freed;
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (live.contains(it->first)) {
      ++it;
      continue;
    }
    used_[it->second] = false;
    freed.push_back(it->second);
    it = slots_.erase(it);
  }
  return freed;
}

}  // namespace nfbpf::codegen::chain
