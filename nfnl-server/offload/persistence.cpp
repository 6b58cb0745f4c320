// OffloadHook's persistence (nfbpfd --bpffs / --state-dir): what commit() pins and saves, what a
// later daemon adopts. Layout:
//
//   <bpffs>/counters, quotas, limits     the shared state maps (RuntimeTables)
//   <bpffs>/prog_<id>                    each running program (<id>: its kernel id when pinned)
//   <bpffs>/prog_<id>_s<n>               its named sets' maps (updated in place later)
//   <bpffs>/at_<point>_link|_prog|_array each attach point's dispatcher (the link keeps it attached)
//   <state>/ruleset.bin                  the committed ruleset (ruleset_snapshot.h)
//   <state>/offload.json                 which pin is what: slot assignments, programs with their
//                                        compile keys, set map specs, attach points, registrations
//
// Order on commit: pin what is new, write ruleset.bin and offload.json (each atomically), then
// unpin what no longer runs; a crash at any point leaves files that name existing pins (at worst
// a few orphans, removed by the next commit).
#include <bpf/bpf.h>
#include <linux/netfilter.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "nfnl-server/offload/hook_program.h"
#include "nfnl-server/offload/ruleset_snapshot.h"

namespace nfbpf::offload {

namespace chain = codegen::chain;
namespace runtime = codegen::runtime;
using nlohmann::json;

namespace {

constexpr const char* kRulesetFile = "ruleset.bin";
constexpr const char* kStateFile = "offload.json";

json key_json(const chain::SlotKey& k) {
  return json::array({static_cast<int>(k.family), k.table, k.chain, k.handle, k.step, k.object});
}

chain::SlotKey key_from(const json& j) {
  return chain::SlotKey{static_cast<ir::Family>(j.at(0).get<int>()), j.at(1).get<std::string>(), j.at(2).get<std::string>(),
                        j.at(3).get<uint64_t>(), j.at(4).get<uint32_t>(), j.at(5).get<std::string>()};
}

json keys_json(const std::set<chain::SlotKey>& keys) {
  json out = json::array();
  for (const auto& k : keys) out.push_back(key_json(k));
  return out;
}

std::set<chain::SlotKey> keys_from(const json& j) {
  std::set<chain::SlotKey> out;
  for (const auto& k : j) out.insert(key_from(k));
  return out;
}

json slots_json(const chain::SlotAllocator& a) {
  json out = json::array();
  for (const auto& [k, slot] : a.assigned()) {
    json e = key_json(k);
    e.push_back(slot);
    out.push_back(std::move(e));
  }
  return out;
}

void restore_slots(chain::SlotAllocator& a, const json& j) {
  for (const auto& e : j)
    if (auto r = a.restore(key_from(e), e.at(6).get<uint32_t>()); !r) log::warn("offload: {}", r.error().describe());
}

// "at_nf4_1_-100", "at_tcxingress_3": a pin name per attach point.
std::string point_name(const AttachKey& k) {
  if (k.flavor == codegen::flavor::Flavor::kNetfilter) return fmt::format("at_nf{}_{}_{}", k.pf, k.hooknum, k.priority);
  return fmt::format("at_{}_{}", codegen::flavor::flavor_name(k.flavor), k.ifindex);
}

// What a map holds, read back entry by entry (adopted set maps: their contents before the first
// commit's element diff).
SetContents read_map(const codegen::kernel::Map& m) {
  SetContents out{.max_entries = m.spec().max_entries};
  const uint32_t ks = m.spec().key_size;
  std::vector<uint8_t> key(ks), next(ks), value(m.value_bytes());
  bool first = true;
  for (uint32_t n = 0; n <= m.spec().max_entries; ++n) {
    if (::bpf_map_get_next_key(m.fd(), first ? nullptr : key.data(), next.data()) != 0) break;
    first = false;
    key = next;
    if (::bpf_map_lookup_elem(m.fd(), key.data(), value.data()) == 0) out.entries[key] = SetEntry{value, std::nullopt};
  }
  return out;
}

}  // namespace

void OffloadHook::persist() {
  std::set<std::string> wanted;
  if (!persist_.bpffs.empty()) {
    if (rt_) wanted.insert({"counters", "quotas", "limits"});
    std::set<Program*> seen;
    for (const auto& [at, prog] : live_) {
      if (!seen.insert(prog.get()).second) continue;
      if (prog->pin.empty()) {
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (::bpf_prog_get_info_by_fd(prog->loaded.prog.fd(), &info, &len) != 0) continue;
        const std::string name = fmt::format("prog_{}", info.id);
        ::unlink(pin_path(name).c_str());
        if (auto r = prog->loaded.prog.pin(pin_path(name)); !r) {
          log::error("offload: pinning {}: {}", name, r.error().describe());
          continue;
        }
        size_t n = 0;
        for (auto& [key, live] : prog->sets) {
          const std::string set_pin = fmt::format("{}_s{}", name, n++);
          ::unlink(pin_path(set_pin).c_str());
          if (auto r = prog->loaded.set_maps.at(key).pin(pin_path(set_pin)); !r)
            log::error("offload: pinning {}: {}", set_pin, r.error().describe());
        }
        if (prog->loaded.block_array) {
          // A split chain (codegen/chain/blocks.h): the kernel empties a prog array when its last
          // user reference goes, so the blocks array is pinned too or block 0 would run alone.
          ::unlink(pin_path(name + "_blocks").c_str());
          if (auto r = prog->loaded.block_array->pin(pin_path(name + "_blocks")); !r)
            log::error("offload: pinning {}_blocks: {}", name, r.error().describe());
        }
        prog->pin = name;
      }
      wanted.insert(prog->pin);
      if (::access(pin_path(prog->pin + "_blocks").c_str(), F_OK) == 0) wanted.insert(prog->pin + "_blocks");
      for (size_t n = 0; n < prog->sets.size(); ++n) wanted.insert(fmt::format("{}_s{}", prog->pin, n));
    }
    for (auto& [at, d] : dispatchers_) {
      const std::string name = point_name(at);
      for (const char* suffix : {"_link", "_prog", "_array"}) wanted.insert(name + suffix);
      if (pinned_.contains(name + "_link")) continue;
      runtime::Dispatcher::unpin(pin_path(name));
      if (auto r = d.pin(pin_path(name)); !r) log::error("offload: pinning {}: {}", name, r.error().describe());
    }
  }

  if (!persist_.state_dir.empty()) {
    if (next_rs_) {
      const std::vector<uint8_t> saved = save_ruleset(*next_rs_);
      if (auto r = write_file_atomically(persist_.state_dir + "/" + kRulesetFile, saved); !r)
        log::error("offload: saving the ruleset: {}", r.error().describe());
    }
    json state{{"version", 1}, {"clock", registration_clock_}};
    if (rt_)
      state["slots"] = {{"counters", slots_json(rt_->slots.counters)},
                        {"quotas", slots_json(rt_->slots.quotas)},
                        {"limits", slots_json(rt_->slots.limits)}};
    json progs = json::array();
    std::set<Program*> seen;
    for (const auto& [at, prog] : live_) {
      if (prog->pin.empty() || !seen.insert(prog.get()).second) continue;
      json sets = json::array();
      size_t n = 0;
      for (const auto& [key, live] : prog->sets) {
        const auto& spec = prog->loaded.set_maps.at(key).spec();
        sets.push_back({{"key", key}, {"family", static_cast<int>(live.family)}, {"table", live.table},
                        {"set", live.set}, {"pin", fmt::format("{}_s{}", prog->pin, n++)},
                        {"spec", {static_cast<int>(spec.type), spec.key_size, spec.value_size, spec.max_entries,
                                  spec.flags, spec.name}}});
      }
      progs.push_back({{"pin", prog->pin}, {"name", prog->loaded.prog.name()},
                       {"type", static_cast<int>(prog->loaded.prog.type())}, {"insns", prog->loaded.prog.insn_count()},
                       {"key", prog->key}, {"compile_ms", prog->compile_ms}, {"load_ms", prog->load_ms},
                       {"counters", keys_json(prog->counters)}, {"quotas", keys_json(prog->quotas)},
                       {"limits", keys_json(prog->limits)}, {"sets", std::move(sets)}});
    }
    state["programs"] = std::move(progs);
    json points = json::array();
    for (const auto& [at, prog] : live_) {
      if (prog->pin.empty() || !dispatchers_.contains(at)) continue;
      points.push_back({{"flavor", static_cast<int>(at.flavor)}, {"pf", at.pf}, {"hooknum", at.hooknum},
                        {"priority", at.priority}, {"ifindex", at.ifindex}, {"pin", point_name(at)},
                        {"program", prog->pin}});
    }
    state["attach"] = std::move(points);
    json reg = json::array();
    for (const auto& [id, seq] : registered_)
      reg.push_back({std::get<0>(id), std::get<1>(id), std::get<2>(id), std::get<3>(id), std::get<4>(id), seq});
    state["registered"] = std::move(reg);
    const std::string text = state.dump();
    if (auto r = write_file_atomically(persist_.state_dir + "/" + kStateFile,
                                       std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
        !r)
      log::error("offload: saving the offload state: {}", r.error().describe());
  }

  if (!persist_.bpffs.empty()) {
    for (const auto& name : pinned_)
      if (!wanted.contains(name)) ::unlink(pin_path(name).c_str());
    pinned_ = std::move(wanted);
  }
}

Result<std::optional<std::vector<uint8_t>>> OffloadHook::adopt() {
  if (persist_.state_dir.empty()) return std::nullopt;
  auto saved = read_file(persist_.state_dir + "/" + kRulesetFile);
  if (!saved) return std::nullopt;  // nothing committed yet
  auto batch = replay_batch(*saved);
  if (!batch) return std::unexpected(std::move(batch).error().with_context("reading the saved ruleset"));
  if (persist_.bpffs.empty()) return std::optional(std::move(*batch));

  auto text = read_file(persist_.state_dir + "/" + kStateFile);
  if (!text) return std::optional(std::move(*batch));
  json state = json::parse(text->begin(), text->end(), nullptr, false);
  if (state.is_discarded() || state.value("version", 0) != 1) {
    log::warn("offload: {} is unreadable: compiling the saved ruleset afresh", kStateFile);
    return std::optional(std::move(*batch));
  }
  try {
    auto rt = chain::RuntimeTables::open_pinned(*kernel_, persist_.bpffs, counter_slots_);
    if (!rt) {
      log::warn("offload: the pinned state maps are gone ({}): counters start from the saved ruleset",
                rt.error().describe());
      return std::optional(std::move(*batch));
    }
    rt_.emplace(std::move(*rt));
    pinned_.insert({"counters", "quotas", "limits"});
    restore_slots(rt_->slots.counters, state["slots"]["counters"]);
    restore_slots(rt_->slots.quotas, state["slots"]["quotas"]);
    restore_slots(rt_->slots.limits, state["slots"]["limits"]);

    std::map<std::string, ProgramPtr> programs;
    for (const auto& p : state["programs"]) {
      const std::string pin = p["pin"].get<std::string>();
      auto prog = codegen::kernel::Prog::open_pinned(*kernel_, pin_path(pin), p["name"].get<std::string>(),
                                                     static_cast<bpf_prog_type>(p["type"].get<int>()),
                                                     p["insns"].get<size_t>());
      if (!prog) {
        log::warn("offload: {}", prog.error().describe());
        continue;
      }
      auto adopted = std::make_shared<Program>(Program{p["key"].get<std::string>(), chain::LoadedChain{std::move(*prog), {}},
                                                       keys_from(p["counters"]), keys_from(p["quotas"]),
                                                       keys_from(p["limits"]), p["compile_ms"].get<double>(),
                                                       p["load_ms"].get<double>(), pin, {}});
      bool whole = true;
      for (const auto& s : p["sets"]) {
        const json& sp = s["spec"];
        codegen::kernel::MapSpec spec{.type = static_cast<bpf_map_type>(sp.at(0).get<int>()), .key_size = sp.at(1),
                                      .value_size = sp.at(2), .max_entries = sp.at(3), .flags = sp.at(4),
                                      .name = sp.at(5).get<std::string>()};
        auto m = codegen::kernel::Map::open_pinned(*kernel_, pin_path(s["pin"].get<std::string>()), spec);
        if (!m) {
          log::warn("offload: {}", m.error().describe());
          whole = false;
          break;
        }
        const std::string key = s["key"].get<std::string>();
        SetContents contents = read_map(*m);
        adopted->loaded.set_maps.emplace(key, std::move(*m));
        adopted->sets.emplace(key, Program::LiveSet{static_cast<ir::Family>(s["family"].get<int>()),
                                                    s["table"].get<std::string>(), s["set"].get<std::string>(),
                                                    std::move(contents)});
        pinned_.insert(s["pin"].get<std::string>());
      }
      if (!whole) continue;
      pinned_.insert(pin);
      if (::access(pin_path(pin + "_blocks").c_str(), F_OK) == 0) pinned_.insert(pin + "_blocks");  // a split chain
      programs.emplace(pin, std::move(adopted));
    }

    for (const auto& a : state["attach"]) {
      AttachKey at{.flavor = static_cast<codegen::flavor::Flavor>(a["flavor"].get<int>()), .pf = a["pf"],
                   .hooknum = a["hooknum"], .priority = a["priority"], .ifindex = a["ifindex"]};
      const std::string name = a["pin"].get<std::string>();
      auto d = runtime::Dispatcher::adopt(*kernel_, at.flavor, pin_path(name));
      if (!d) {
        log::warn("offload: attach point {} not adopted: {}", at.describe(), d.error().describe());
        continue;
      }
      for (const char* suffix : {"_link", "_prog", "_array"}) pinned_.insert(name + suffix);
      auto prog = programs.find(a["program"].get<std::string>());
      if (prog != programs.end()) live_[at] = prog->second;
      dispatchers_.emplace(at, std::move(*d));
    }
    for (const auto& r : state["registered"])
      registered_[ChainIdent{r.at(0).get<uint8_t>(), r.at(1).get<std::string>(), r.at(2).get<uint64_t>(),
                             r.at(3).get<std::string>(), r.at(4).get<uint64_t>()}] = r.at(5).get<uint64_t>();
    registration_clock_ = state.value("clock", uint64_t{0});
    stats_.attach_points = dispatchers_.size();
    log::info("offload: adopted {} programs at {} attach points from {}", programs.size(), dispatchers_.size(),
              persist_.bpffs);
  } catch (const json::exception& e) {
    return failf(EINVAL, "{} is malformed: {}", kStateFile, e.what());
  }
  return std::optional(std::move(*batch));
}

void OffloadHook::forget_persistent_state() {
  if (!persist_.bpffs.empty()) {
    for (const auto& name : pinned_) ::unlink(pin_path(name).c_str());
    pinned_.clear();
  }
  if (!persist_.state_dir.empty()) {
    ::unlink((persist_.state_dir + "/" + kRulesetFile).c_str());
    ::unlink((persist_.state_dir + "/" + kStateFile).c_str());
  }
  persist_ = {};
}

void OffloadHook::leave_running_on_exit() {
  // Pinned programs may read ct: keep the kernel running conntrack for them too.
  if (!persist_.bpffs.empty()) ct_anchor_.keep_on_exit();
}

}  // namespace nfbpf::offload
