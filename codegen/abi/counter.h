#pragma once
// Layout of one rule counter as the generated code updates it and userspace reads it. The
// counters map is a BPF_MAP_TYPE_PERCPU_ARRAY of Counter, indexed by a stable slot (runtime::
// CounterTable); userspace sums the per-CPU copies.

#include <cstddef>
#include <cstdint>

namespace nfbpf::codegen::abi {

struct Counter {
  uint64_t packets;
  uint64_t bytes;  // from the L3 header on, like nft/iptables counters
};
static_assert(sizeof(Counter) == 16);
static_assert(offsetof(Counter, packets) == 0);
static_assert(offsetof(Counter, bytes) == 8);

}  // namespace nfbpf::codegen::abi
