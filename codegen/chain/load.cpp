#include "codegen/chain/load.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "codegen/chain/log.h"
#include "codegen/flavor/load.h"

namespace nfbpf::codegen::chain {

namespace {

// The slot allocators of a daemon whose counter map has `counter_slots` slots.
StateSlots state_slots(uint32_t counter_slots) {
  StateSlots s;
  s.counters = SlotAllocator(counter_slots, "counter",
                             " (one per counting rule, named counter and counted base-chain policy; "
                             "nfbpfd --counter-slots N sets how many)");
  return s;
}

}  // namespace

Result<RuntimeTables> RuntimeTables::create(kernel::Kernel& k, uint32_t counter_slots) {
  StateSlots proto = state_slots(counter_slots);
  auto counters = runtime::CounterTable::create(k, proto.counters.capacity());
  if (!counters) return std::unexpected(std::move(counters).error());
  auto quotas = kernel::Map::create(k, {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8,
                                        .max_entries = proto.quotas.capacity(), .name = std::string(kQuotaMapName)});
  if (!quotas) return std::unexpected(std::move(quotas).error().with_context("creating the quota table"));
  auto limits = kernel::Map::create(k, {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8,
                                        .max_entries = proto.limits.capacity(), .name = std::string(kLimitMapName)});
  if (!limits) return std::unexpected(std::move(limits).error().with_context("creating the limit table"));
  std::optional<uint32_t> nfct;
  if (auto off = k.btf_member_offset("sk_buff", "_nfct")) nfct = *off;
  return RuntimeTables{std::move(*counters), std::move(*quotas), std::move(*limits), std::move(proto), nfct};
}

Result<void> RuntimeTables::pin(const std::string& dir) {
  NFBPF_TRYV(counters.pin(dir + "/counters"));
  NFBPF_TRYV(quotas.pin(dir + "/quotas"));
  return limits.pin(dir + "/limits");
}

Result<RuntimeTables> RuntimeTables::open_pinned(kernel::Kernel& k, const std::string& dir, uint32_t counter_slots) {
  StateSlots proto = state_slots(counter_slots);
  auto counters = runtime::CounterTable::open_pinned(k, dir + "/counters", proto.counters.capacity());
  if (!counters) return std::unexpected(std::move(counters).error());
  auto quotas = kernel::Map::open_pinned(k, dir + "/quotas", {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8,
                                        .max_entries = proto.quotas.capacity(), .name = std::string(kQuotaMapName)});
  if (!quotas) return std::unexpected(std::move(quotas).error());
  auto limits = kernel::Map::open_pinned(k, dir + "/limits", {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8,
                                        .max_entries = proto.limits.capacity(), .name = std::string(kLimitMapName)});
  if (!limits) return std::unexpected(std::move(limits).error());
  std::optional<uint32_t> nfct;
  if (auto off = k.btf_member_offset("sk_buff", "_nfct")) nfct = *off;
  return RuntimeTables{std::move(*counters), std::move(*quotas), std::move(*limits), std::move(proto), nfct};
}

void RuntimeTables::unpin(const std::string& dir) {
  for (const char* name : {"/counters", "/quotas", "/limits"}) ::unlink((dir + name).c_str());
}

Result<LoadedChain> load_chain(kernel::Kernel& k, const CompiledChain& cc, RuntimeTables& rt, std::string* log) {
  std::map<std::string, kernel::Map, std::less<>> sets;
  kernel::MapBindings bind;
  for (const SetMap& s : cc.sets) {
    auto m = kernel::Map::create(k, s.spec);
    if (!m) return std::unexpected(std::move(m).error().with_context("creating the map of set " + s.set));
    for (const auto& e : s.entries) NFBPF_TRYV(m->update(e.key.data(), e.value.data()));
    sets.emplace(set_map_key(s.family, s.table, s.set), std::move(*m));
  }
  for (const SetMap& s : cc.sets) bind.emplace(s.map_name, &sets.at(set_map_key(s.family, s.table, s.set)));
  for (const auto& u : cc.counters)
    if (u.fresh) NFBPF_TRYV(rt.counters.write(u.slot, abi::Counter{0, 0}));
  for (const auto& u : cc.quotas)
    if (u.fresh) NFBPF_TRYV(rt.quotas.update(&u.slot, &u.initial));
  for (const auto& u : cc.limits) {
    uint64_t zero = 0;
    if (u.fresh) NFBPF_TRYV(rt.limits.update(&u.slot, &zero));
  }
  bind.emplace(std::string(runtime::kCountersMapName), &rt.counters.map());
  bind.emplace(std::string(kQuotaMapName), &rt.quotas);
  bind.emplace(std::string(kLimitMapName), &rt.limits);
  if (!rt.log_ring && std::ranges::find(cc.program.map_names(), kLogRingMapName) != cc.program.map_names().end()) {
    auto ring = create_log_ring(k);
    if (!ring) return std::unexpected(std::move(ring).error());
    rt.log_ring = std::make_shared<kernel::Map>(std::move(*ring));
  }
  if (rt.log_ring) bind.emplace(std::string(kLogRingMapName), rt.log_ring.get());
  std::optional<kernel::Map> block_array;  // bound by address: stays here until every block is loaded
  if (!cc.blocks.empty()) {
    auto arr = kernel::Map::create(k, {.type = BPF_MAP_TYPE_PROG_ARRAY, .key_size = 4, .value_size = 4,
                                       .max_entries = static_cast<uint32_t>(cc.block_count()), .name = "nfbpf_blocks"});
    if (!arr) return std::unexpected(std::move(arr).error().with_context("creating the prog array of a split chain"));
    block_array.emplace(std::move(*arr));
    bind.emplace(std::string(kBlocksMapName), &*block_array);
  }
  const auto& ops = flavor::flavor_ops(cc.flavor);
  auto load_one = [&](const emit::Program& program, std::string* log_out) -> Result<kernel::Prog> {
    // Bind only what the program declared.
    kernel::MapBindings used;
    for (const auto& name : program.map_names()) {
      auto it = bind.find(name);
      if (it == bind.end()) return failf(ENOENT, "program refers to unknown map '{}'", name);
      used.emplace(name, it->second);
    }
    kernel::LoadOptions lo = flavor::load_options(ops);
    if (log_out) {
      lo.log_level = 1;
      lo.log_out = log_out;
    }
    return kernel::load_program(k, program, lo, used);
  };
  auto prog = load_one(cc.program, log);
  if (!prog) {
    if (cc.blocks.empty()) return std::unexpected(std::move(prog).error());
    return std::unexpected(std::move(prog).error().with_context("block 0"));
  }
  std::vector<kernel::Prog> blocks;
  for (size_t i = 0; i < cc.blocks.size(); ++i) {
    auto b = load_one(cc.blocks[i], nullptr);
    if (!b) return std::unexpected(std::move(b).error().with_context(fmt::format("block {} of {}", i + 1, cc.block_count())));
    const uint32_t slot = static_cast<uint32_t>(i + 1);
    const uint32_t fd = static_cast<uint32_t>(b->fd());
    NFBPF_TRYV(block_array->update(&slot, &fd));
    blocks.push_back(std::move(*b));
  }
  return LoadedChain{std::move(*prog), std::move(sets), std::move(blocks), std::move(block_array)};
}

}  // namespace nfbpf::codegen::chain
