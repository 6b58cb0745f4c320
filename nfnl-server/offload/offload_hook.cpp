#include "nfnl-server/offload/offload_hook.h"

#include <bpf/bpf.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cctype>
#include <chrono>

#include <fmt/format.h>

#include "codegen/chain/compile.h"
#include "common/log.h"
#include "nfnl-server/offload/counter_listing.h"
#include "nfnl-server/offload/reset_targets.h"
#include "nfnl-server/offload/store_to_ir.h"
#include "translate/ir/fields.h"
#include "translate/ir/printer.h"

namespace nfbpf::offload {

namespace chain = codegen::chain;
namespace flavor = codegen::flavor;
namespace runtime = codegen::runtime;

struct OffloadHook::Program {
  std::string key;  // printed inputs (see program_for); equal keys compile to equal programs
  chain::LoadedChain loaded;
  std::set<chain::SlotKey> counters, quotas, limits;
  double compile_ms = 0, load_ms = 0;  // compile_chain; load_chain (maps + verifier)
};

namespace {

// The extended-ack text travels inside one netlink record (<= 3776 bytes with the copied
// request); the full error, verifier log included, goes to the daemon's log.
constexpr size_t kClientMessageMax = 400;

uint8_t nfproto_of(ir::Family f) {
  switch (f) {
    case ir::Family::kIp: return NFPROTO_IPV4;
    case ir::Family::kIp6: return NFPROTO_IPV6;
    case ir::Family::kInet: return NFPROTO_INET;
    case ir::Family::kNetdev: return NFPROTO_NETDEV;
    default: return NFPROTO_UNSPEC;
  }
}

// The family as ir::to_string names it (qualified_name below), from the store's nfproto.
std::string_view family_name(uint8_t nfproto) {
  switch (nfproto) {
    case NFPROTO_IPV4: return ir::to_string(ir::Family::kIp);
    case NFPROTO_IPV6: return ir::to_string(ir::Family::kIp6);
    case NFPROTO_INET: return ir::to_string(ir::Family::kInet);
    case NFPROTO_NETDEV: return ir::to_string(ir::Family::kNetdev);
    default: return "?";
  }
}

bool family_offloaded(uint8_t nfproto) {
  return nfproto == NFPROTO_IPV4 || nfproto == NFPROTO_IPV6 || nfproto == NFPROTO_INET ||
         nfproto == NFPROTO_NETDEV;
}

// BPF object names: at most 15 characters of [A-Za-z0-9_.].
std::string prog_name(std::string_view chain_name) {
  std::string out = "nfb_";
  for (char ch : chain_name) {
    if (out.size() >= 15) break;
    out.push_back(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ? ch : '_');
  }
  return out;
}

// Slot keys carry the table name but not its family; `ip filter` and `ip6 filter` would share
// counters. The compiler sees tables renamed "<family> <name>" so keys are unique per table.
std::string qualified_name(const ir::Table& t) { return fmt::format("{} {}", ir::to_string(t.family), t.name); }

// Everything compile_chain reads for one base chain: the table's identity, its sets, the base
// chain and every regular chain (a superset of the reachable ones), and the flavor.
std::string compile_key(const ir::Table& t, const ir::Chain& base, flavor::Flavor f) {
  std::string key = fmt::format("{}\n{}\n", flavor::flavor_name(f), t.name);
  for (const auto& s : t.sets) key += ir::to_string(s) + "\n";
  key += ir::to_string(base) + "\n";
  for (const auto& c : t.chains)
    if (!c.base) key += ir::to_string(c) + "\n";
  return key;
}

std::set<chain::SlotKey> keys_of(const std::vector<chain::SlotUse>& uses) {
  std::set<chain::SlotKey> out;
  for (const auto& u : uses) out.insert(u.key);
  return out;
}

// A refusal from lowering (before any chain is compiled) names its rule as translate/nft writes it
// (lower_context.cpp),
// "(rule 3 in chain ip filter input)": the chain part, or "" if there is none.
std::string chain_named_in(const std::string& message) {
  constexpr std::string_view kMarker = " in chain ";
  const size_t at = message.find(kMarker);
  if (at == std::string::npos) return {};
  const size_t from = at + kMarker.size();
  const size_t to = message.find(')', from);
  return to == std::string::npos ? std::string() : message.substr(from, to - from);
}

Error for_client(const Error& e) {
  std::string text = e.describe();
  if (text.size() > kClientMessageMax) text = text.substr(0, kClientMessageMax - 3) + "...";
  return Error(e.err, std::move(text));
}

}  // namespace

OffloadHook::OffloadHook(std::unique_ptr<codegen::kernel::Kernel> kernel, DeviceResolver devices)
    : kernel_(std::move(kernel)), devices_(std::move(devices)) {}

OffloadHook::~OffloadHook() {
  // Detach before the programs and maps go (member order would do it too; be explicit).
  new_dispatchers_.clear();
  dispatchers_.clear();
}

Result<chain::RuntimeTables*> OffloadHook::runtime() {
  if (!rt_) {
    auto rt = chain::RuntimeTables::create(*kernel_);
    if (!rt) return std::unexpected(std::move(rt).error().with_context("creating the shared state maps"));
    rt_.emplace(std::move(*rt));
  }
  return &*rt_;
}

Result<OffloadHook::ProgramPtr> OffloadHook::program_for(const ir::Table& t, const ir::Chain& c, flavor::Flavor f,
                                                         const std::map<std::string, ProgramPtr>& live_by_key) {
  std::string key = compile_key(t, c, f);
  if (auto it = live_by_key.find(key); it != live_by_key.end()) {
    ++stats_.reused;
    return it->second;
  }
  auto rt = runtime();
  if (!rt) return std::unexpected(std::move(rt).error());
  using Clock = std::chrono::steady_clock;
  const auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  const auto t0 = Clock::now();
  auto cc = chain::compile_chain(t, c, f, (*rt)->options(prog_name(c.name)));
  if (!cc) return std::unexpected(std::move(cc).error());
  const double compile_ms = ms_since(t0);
  const auto t1 = Clock::now();
  auto loaded = chain::load_chain(*kernel_, *cc, **rt);
  const double load_ms = ms_since(t1);
  if (!loaded) return std::unexpected(std::move(loaded).error().with_context(fmt::format("loading chain {}", c.name)));
  // Slots allocated for this program start from the values the ruleset gave (load_chain zeroed
  // them); slots already in use keep counting.
  for (const chain::SlotUse& u : cc->counters) {
    if (!u.fresh) continue;
    auto init = initial_counters_.find(u.key);
    if (init == initial_counters_.end() || (init->second.packets == 0 && init->second.bytes == 0)) continue;
    if (auto w = (*rt)->counters.write(u.slot, init->second); !w)
      return std::unexpected(std::move(w).error().with_context(fmt::format("seeding the counters of chain {}", c.name)));
  }
  ++stats_.compiled;
  return std::make_shared<const Program>(Program{std::move(key), std::move(*loaded), keys_of(cc->counters),
                                                 keys_of(cc->quotas), keys_of(cc->limits), compile_ms, load_ms});
}

std::map<OffloadHook::RuleId, std::vector<codegen::abi::Counter>> OffloadHook::collect_initial_counters(
    const store::Ruleset& next) {
  initial_counters_.clear();
  std::map<RuleId, std::vector<codegen::abi::Counter>> by_rule;
  for (const auto& t : next.tables) {
    if (!t->vis.active_next()) continue;
    const std::string qname = fmt::format("{} {}", family_name(t->family), t->name);  // = qualified_name
    for (const auto& o : t->objects)
      if (o->vis.active_next() && o->type == NFT_OBJECT_COUNTER)
        initial_counters_[chain::SlotKey{qname, {}, 0, 0, fmt::format("counter:{}", o->name)}] = read_counter_attrs(o->data);
    for (const auto& c : t->chains) {
      if (!c->vis.active_next()) continue;
      for (const auto& r : c->rules) {
        if (!r.vis.active_next()) continue;
        // The nth counter expression is the nth IR Counter step (as in counter_listing.h); the
        // slot key names the step's index, known once the rule is lowered (prepare_unchecked).
        for (const auto& e : r.exprs)
          if (e.name == "counter") by_rule[RuleId{t->family, t->name, c->name, r.handle}].push_back(read_counter_attrs(e.data));
      }
    }
  }
  return by_rule;
}

Result<void> OffloadHook::prepare_unchecked(const store::Ruleset& next) {
  // Tables of other families (arp, bridge) are stored but could not run: refuse their base chains.
  for (const auto& t : next.tables) {
    if (!t->vis.active_next() || family_offloaded(t->family)) continue;
    for (const auto& c : t->chains)
      if (c->vis.active_next() && c->is_base())
        return failf(EOPNOTSUPP, "chain {} of table {}: family {} is not offloaded", c->name, t->name,
                     t->family == NFPROTO_ARP ? "arp" : t->family == NFPROTO_BRIDGE ? "bridge" : std::to_string(t->family));
  }
  auto rs = ruleset_to_ir(next);
  if (!rs) return std::unexpected(std::move(rs).error());
  // Conntrack on (kernel anchor table) before any new program can run; abort() undoes it.
  NFBPF_TRYV(ct_anchor_.stage(conntrack_needs(*rs)));
  auto plan = plan_attachments(*rs, devices_);
  if (!plan) return std::unexpected(std::move(plan).error());

  const auto initial_by_rule = collect_initial_counters(next);

  std::vector<std::string> table_names;  // as nft names them (the loop below renames)
  for (const auto& t : rs->tables) table_names.push_back(t.name);

  // Counter statements of every rule, by rule, in order (for listings).
  for (auto& t : rs->tables) {
    const uint8_t nfproto = nfproto_of(t.family);
    const std::string qname = qualified_name(t);
    for (const auto& c : t.chains)
      for (const auto& r : c.rules)
        for (size_t i = 0; i < r.steps.size(); ++i)
          if (std::holds_alternative<ir::Counter>(r.steps[i]))
            next_counters_[RuleId{nfproto, t.name, c.name, r.handle}].push_back(
                chain::SlotKey{qname, c.name, r.handle, static_cast<uint32_t>(i), {}});
          else if (std::holds_alternative<ir::Quota>(r.steps[i]))
            next_quotas_[RuleId{nfproto, t.name, c.name, r.handle}].push_back(
                chain::SlotKey{qname, c.name, r.handle, static_cast<uint32_t>(i), {}});
    next_tables_[{nfproto, t.name}] = qname;
    t.name = qname;
  }

  for (const auto& [rid, values] : initial_by_rule) {
    auto keys = next_counters_.find(rid);
    if (keys == next_counters_.end()) continue;
    for (size_t n = 0; n < values.size() && n < keys->second.size(); ++n) initial_counters_[keys->second[n]] = values[n];
  }

  std::map<std::string, ProgramPtr> live_by_key;
  for (const auto& [at, prog] : live_) live_by_key.emplace(prog->key, prog);
  for (const ChainPlan& p : *plan) {
    const ir::Table& t = rs->tables[p.table];
    const ir::Chain* c = ir::find_chain(t, p.chain);
    if (!c) return failf(ENOENT, "chain {} vanished while planning", p.where);
    preparing_ = p.where;
    auto prog = program_for(t, *c, p.flavor, live_by_key);
    if (!prog) return std::unexpected(std::move(prog).error().with_context("chain " + p.where));
    ChainStatus info{.family = std::string(ir::to_string(t.family)),
                     .table = table_names[p.table],
                     .chain = c->name,
                     .type = std::string(ir::to_string(c->base->type)),
                     .hook = std::string(ir::to_string(c->base->hook)),
                     .priority = c->base->priority,
                     .devices = c->base->devices,
                     .attached = p.at};
    next_chains_.push_back(PlannedChain{std::move(info), *prog});
    for (const AttachKey& k : p.at) {
      next_[k] = *prog;
      if (dispatchers_.contains(k) || new_dispatchers_.contains(k)) continue;
      // Attached with an empty slot that lets packets through (the flavor's accept), so nothing
      // changes for packets until commit() installs the chain; an attach failure (EBUSY, bad
      // priority) is thereby a batch error.
      auto d = runtime::Dispatcher::create(*kernel_, k.flavor, flavor::flavor_ops(k.flavor).accept);
      if (!d) return std::unexpected(std::move(d).error().with_context("chain " + p.where));
      if (auto a = d->attach(k.point()); !a)
        return std::unexpected(std::move(a).error().with_context(
            fmt::format("attaching chain {} at {}", p.where, k.describe())));
      new_dispatchers_.emplace(k, std::move(*d));
    }
  }
  preparing_.clear();
  return {};
}

Result<void> OffloadHook::prepare(const store::Ruleset& next) {
  abort();  // nothing may be left over from a prepare that was not followed by commit/abort
  if (auto r = prepare_unchecked(next); !r) {
    log::warn("offload refused the batch: {}", r.error().describe());
    last_refused_ = Refusal{preparing_.empty() ? chain_named_in(r.error().describe()) : preparing_, r.error().describe()};
    abort();
    return std::unexpected(for_client(r.error()));
  }
  prepared_ = true;
  return {};
}

void OffloadHook::commit() {
  if (!prepared_) return;
  prepared_ = false;
  for (auto& [k, d] : new_dispatchers_) dispatchers_.emplace(k, std::move(d));
  new_dispatchers_.clear();
  for (const auto& [k, prog] : next_) {
    auto old = live_.find(k);
    if (old != live_.end() && old->second == prog) continue;
    auto d = dispatchers_.find(k);
    if (d == dispatchers_.end()) continue;  // cannot happen: prepare attached it
    // A prog-array update of a live array: it fails only on resource exhaustion.
    if (auto r = d->second.install(prog->loaded.prog); !r)
      log::error("offload: installing the program at {} failed: {}", k.describe(), r.error().describe());
  }
  for (auto it = dispatchers_.begin(); it != dispatchers_.end();) {
    if (next_.contains(it->first)) {
      ++it;
      continue;
    }
    it = dispatchers_.erase(it);  // closing the link detaches it
  }
  live_ = std::move(next_);
  next_.clear();
  live_counters_ = std::move(next_counters_);
  next_counters_.clear();
  live_quotas_ = std::move(next_quotas_);
  next_quotas_.clear();
  live_tables_ = std::move(next_tables_);
  next_tables_.clear();
  live_chains_ = std::move(next_chains_);
  next_chains_.clear();
  initial_counters_.clear();
  release_unused_slots();
  stats_.attach_points = dispatchers_.size();
  ct_anchor_.commit();  // after the swap: no running program reads ct of a dropped family
}

void OffloadHook::abort() {
  prepared_ = false;
  next_.clear();
  new_dispatchers_.clear();
  next_counters_.clear();
  next_quotas_.clear();
  next_tables_.clear();
  next_chains_.clear();
  preparing_.clear();
  initial_counters_.clear();
  release_unused_slots();
  ct_anchor_.abort();
}

void OffloadHook::release_unused_slots() {
  if (!rt_) return;
  std::set<chain::SlotKey> counters, quotas, limits;
  for (const auto& [k, prog] : live_) {
    counters.insert(prog->counters.begin(), prog->counters.end());
    quotas.insert(prog->quotas.begin(), prog->quotas.end());
    limits.insert(prog->limits.begin(), prog->limits.end());
  }
  rt_->slots.counters.release_except(counters);
  rt_->slots.quotas.release_except(quotas);
  rt_->slots.limits.release_except(limits);
}

std::optional<uint32_t> OffloadHook::counter_slot(uint8_t nfproto, std::string_view table, std::string_view chain_name,
                                                  uint64_t handle, size_t nth) const {
  if (!rt_) return std::nullopt;
  auto it = live_counters_.find(RuleId{nfproto, std::string(table), std::string(chain_name), handle});
  if (it == live_counters_.end() || nth >= it->second.size()) return std::nullopt;
  return rt_->slots.counters.find(it->second[nth]);  // none: no program runs this rule (unreachable chain)
}

std::optional<uint32_t> OffloadHook::object_slot(uint8_t nfproto, std::string_view table, std::string_view name) const {
  if (!rt_) return std::nullopt;
  auto t = live_tables_.find({nfproto, std::string(table)});
  if (t == live_tables_.end()) return std::nullopt;
  // none: no running rule refers to it
  return rt_->slots.counters.find(chain::SlotKey{t->second, {}, 0, 0, fmt::format("counter:{}", name)});
}

std::optional<codegen::abi::Counter> OffloadHook::rule_counter(uint8_t nfproto, std::string_view table,
                                                               std::string_view chain_name, uint64_t handle,
                                                               size_t nth) const {
  auto slot = counter_slot(nfproto, table, chain_name, handle, nth);
  if (!slot) return std::nullopt;
  auto v = rt_->counters.read(*slot);
  if (!v) {
    log::warn("offload: reading counter slot {}: {}", *slot, v.error().describe());
    return std::nullopt;
  }
  return *v;
}

std::optional<codegen::abi::Counter> OffloadHook::object_counter(uint8_t nfproto, std::string_view table,
                                                                 std::string_view name) const {
  auto slot = object_slot(nfproto, table, name);
  if (!slot) return std::nullopt;
  auto v = rt_->counters.read(*slot);
  if (!v) return std::nullopt;
  return *v;
}

std::optional<uint64_t> OffloadHook::rule_quota_used(uint8_t nfproto, std::string_view table, std::string_view chain_name,
                                                     uint64_t handle, size_t nth) const {
  if (!rt_) return std::nullopt;
  auto it = live_quotas_.find(RuleId{nfproto, std::string(table), std::string(chain_name), handle});
  if (it == live_quotas_.end() || nth >= it->second.size()) return std::nullopt;
  auto slot = rt_->slots.quotas.find(it->second[nth]);
  if (!slot) return std::nullopt;
  uint64_t used = 0;
  if (!rt_->quotas.lookup(&*slot, &used)) return std::nullopt;
  return used;
}

bool OffloadHook::reset_rule_counter(uint8_t nfproto, std::string_view table, std::string_view chain_name,
                                     uint64_t handle, size_t nth) {
  auto slot = counter_slot(nfproto, table, chain_name, handle, nth);
  if (!slot) return false;
  if (auto w = rt_->counters.write(*slot, {}); !w) {
    log::warn("offload: resetting counter slot {}: {}", *slot, w.error().describe());
    return false;
  }
  return true;
}

void OffloadHook::reset_rule_quota(uint8_t nfproto, std::string_view table, std::string_view chain_name,
                                   uint64_t handle, size_t nth) {
  if (!rt_) return;
  auto it = live_quotas_.find(RuleId{nfproto, std::string(table), std::string(chain_name), handle});
  if (it == live_quotas_.end() || nth >= it->second.size()) return;
  auto slot = rt_->slots.quotas.find(it->second[nth]);
  if (!slot) return;
  const uint64_t zero = 0;
  if (auto w = rt_->quotas.update(&*slot, &zero); !w)
    log::warn("offload: resetting quota slot {}: {}", *slot, w.error().describe());
}

bool OffloadHook::reset_object_counter(uint8_t nfproto, std::string_view table, std::string_view name) {
  auto slot = object_slot(nfproto, table, name);
  if (!slot) return false;
  if (auto w = rt_->counters.write(*slot, {}); !w) {
    log::warn("offload: resetting counter slot {}: {}", *slot, w.error().describe());
    return false;
  }
  return true;
}

OffloadStatus OffloadHook::status() const {
  OffloadStatus s{.mode = "strict", .last_refused = last_refused_, .compiled = stats_.compiled, .reused = stats_.reused};
  for (const PlannedChain& pc : live_chains_) {
    ChainStatus c = pc.info;
    const codegen::kernel::Prog& prog = pc.prog->loaded.prog;
    c.prog_name = prog.name();
    c.insns = prog.insn_count();
    c.compile_ms = pc.prog->compile_ms;
    c.load_ms = pc.prog->load_ms;
    // The kernel's id and the verifier's processed-instruction count (verified_insns, 5.16+).
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (prog.fd() >= 0 && ::bpf_prog_get_info_by_fd(prog.fd(), &info, &len) == 0) {
      c.prog_id = info.id;
      if (len > offsetof(bpf_prog_info, verified_insns)) c.verified_insns = info.verified_insns;
    }
    const std::string where = fmt::format("{} {} {}", c.family, c.table, c.chain);
    if (last_refused_ && last_refused_->chain == where) c.refused = last_refused_->error;
    s.chains.push_back(std::move(c));
  }
  return s;
}

void OffloadHook::before_dump(store::Ruleset& cur) {
  if (live_.empty()) return;
  refresh_rule_counters(
      cur,
      [this](uint8_t nfproto, std::string_view t, std::string_view c, uint64_t h, size_t nth) {
        return rule_counter(nfproto, t, c, h, nth);
      },
      [this](uint8_t nfproto, std::string_view t, std::string_view name) { return object_counter(nfproto, t, name); });
  refresh_rule_quotas(cur, [this](uint8_t nfproto, std::string_view t, std::string_view c, uint64_t h, size_t nth) {
    return rule_quota_used(nfproto, t, c, h, nth);
  });
}

void OffloadHook::after_reset(store::Ruleset& cur, std::span<const std::vector<uint8_t>> replies) {
  const ResetTargets targets = reset_targets(replies);
  auto table_of = [&](uint8_t nfproto, const std::string& name) -> store::Table* {
    for (auto& t : cur.tables)
      if (t->vis.cur && t->family == nfproto && t->name == name) return t.get();
    return nullptr;
  };
  for (const ResetRule& rr : targets.rules) {
    store::Table* t = table_of(rr.nfproto, rr.table);
    if (!t) continue;
    for (auto& c : t->chains) {
      if (!c->vis.cur || c->name != rr.chain) continue;
      for (auto& r : c->rules) {
        if (!r.vis.cur || r.handle != rr.handle) continue;
        size_t nth = 0, nth_quota = 0;
        for (auto& e : r.exprs) {
          if (e.name == "counter") {
            write_counter_attrs(e.data, {});
            reset_rule_counter(rr.nfproto, rr.table, rr.chain, rr.handle, nth++);
          } else if (e.name == "quota") {
            // nft_quota_do_dump with reset: consumed goes back to zero.
            write_quota_consumed(e.data, 0);
            reset_rule_quota(rr.nfproto, rr.table, rr.chain, rr.handle, nth_quota++);
          }
        }
      }
    }
  }
  for (const ResetObject& ro : targets.objects) {
    if (ro.type != NFT_OBJECT_COUNTER) continue;  // quotas: `used` is not offloaded yet
    store::Table* t = table_of(ro.nfproto, ro.table);
    if (!t) continue;
    for (auto& o : t->objects)
      if (o->vis.cur && o->type == NFT_OBJECT_COUNTER && o->name == ro.name) write_counter_attrs(o->data, {});
    reset_object_counter(ro.nfproto, ro.table, ro.name);
  }
}

}  // namespace nfbpf::offload
