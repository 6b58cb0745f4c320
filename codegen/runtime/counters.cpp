#include "codegen/runtime/counters.h"

#include <cstring>

namespace nfbpf::codegen::runtime {

using emit::Reg;
using emit::Size;

Result<CounterTable> CounterTable::create(kernel::Kernel& k, uint32_t capacity, std::string name) {
  kernel::MapSpec spec{.type = BPF_MAP_TYPE_PERCPU_ARRAY, .key_size = 4,
                       .value_size = sizeof(abi::Counter), .max_entries = capacity, .flags = 0,
                       .name = std::move(name)};
  auto m = kernel::Map::create(k, spec);
  if (!m) return std::unexpected(std::move(m).error().with_context("creating the counter table"));
  return CounterTable(std::move(*m), capacity);
}

Result<CounterTable> CounterTable::open_pinned(kernel::Kernel& k, const std::string& path, uint32_t capacity,
                                              std::string name) {
  kernel::MapSpec spec{.type = BPF_MAP_TYPE_PERCPU_ARRAY, .key_size = 4,
                       .value_size = sizeof(abi::Counter), .max_entries = capacity, .flags = 0,
                       .name = std::move(name)};
  auto m = kernel::Map::open_pinned(k, path, spec);
  if (!m) return std::unexpected(std::move(m).error());
  return CounterTable(std::move(*m), capacity);
}

Result<uint32_t> CounterTable::allocate() {
  for (uint32_t i = 0; i < used_.size(); ++i) {
    if (used_[i]) continue;
    NFBPF_TRYV(write(i, abi::Counter{0, 0}));
    used_[i] = true;
    return i;
  }
  return failf(ENOSPC, "all {} counter slots in use", used_.size());
}

void CounterTable::release(uint32_t slot) {
  if (slot < used_.size()) used_[slot] = false;
}

Result<abi::Counter> CounterTable::read(uint32_t slot) const {
  std::vector<abi::Counter> per_cpu(map_.value_bytes() / sizeof(abi::Counter));
  NFBPF_TRYV(map_.lookup(&slot, per_cpu.data()));
  abi::Counter sum{0, 0};
  for (const auto& c : per_cpu) {
    sum.packets += c.packets;
    sum.bytes += c.bytes;
  }
  return sum;
}

Result<void> CounterTable::write(uint32_t slot, abi::Counter value) {
  std::vector<abi::Counter> per_cpu(map_.value_bytes() / sizeof(abi::Counter), abi::Counter{0, 0});
  per_cpu.at(0) = value;
  return map_.update(&slot, per_cpu.data(), BPF_ANY);
}

void emit_count(emit::Program& p, emit::MapRef counters, uint32_t slot, flavor::PacketRef where) {
  p.st(Size::kW, where.base, where.slot(emit::kKeyOff), static_cast<int32_t>(slot));
  p.ld_map_fd(Reg::R1, counters);
  p.mov(Reg::R2, where.base);
  if (int16_t o = where.slot(emit::kKeyOff); o != 0) p.alu(emit::AluOp::kAdd, Reg::R2, o);
  p.call_helper(BPF_FUNC_map_lookup_elem);
  {
    auto skip = p.jmp_fwd(emit::Cond::kEq, Reg::R0, 0);  // only if slot >= capacity
    p.mov(Reg::R1, 1);
    p.atomic_add(Size::kDW, Reg::R0, offsetof(abi::Counter, packets), Reg::R1);
    flavor::emit_load_l3_len(p, Reg::R1, where);
    p.atomic_add(Size::kDW, Reg::R0, offsetof(abi::Counter, bytes), Reg::R1);
  }
}

}  // namespace nfbpf::codegen::runtime
