#include "nfnl-server/offload/offload_hook.h"

#include <bpf/bpf.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "codegen/chain/compile.h"
#include "codegen/matcher/set_lookup.h"
#include "common/log.h"
#include "nfnl-server/offload/counter_listing.h"
#include "nfnl-server/offload/hook_program.h"
#include "nfnl-server/offload/set_contents.h"
#include "nfnl-server/offload/reset_targets.h"
#include "nfnl-server/offload/store_to_ir.h"
#include "translate/ir/fields.h"
#include "nfnl-server/offload/test_fault.h"
#include "translate/ir/printer.h"
#include "translate/nft/lower.h"

namespace nfbpf::offload {

namespace chain = codegen::chain;
namespace flavor = codegen::flavor;
namespace runtime = codegen::runtime;

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

// Everything compile_hook reads for one base chain: the table's identity, its sets, the base
// chain and every regular chain (a superset of the reachable ones). A hook's key is its chains'
// keys in the order they run, after the flavor.
//
// Named sets are printed without their elements: a program stays valid when they change, and
// prepare() updates its maps in place instead (anonymous sets change only with their rule).
std::string compile_key(const ir::Table& t, const ir::Chain& base) {
  std::string key = fmt::format("{} {}\n", ir::to_string(t.family), t.name);
  for (const auto& s : t.sets) {
    // A set with several ranged parts per element has its elements in the code (set_lookup.h).
    if ((s.flags & ir::kSetAnonymous) || codegen::matcher::set_map_kind(s) == codegen::matcher::SetMapKind::kScan) {
      key += ir::to_string(s) + "\n";
      continue;
    }
    ir::Set shape = s;
    shape.elements.clear();
    key += ir::to_string(shape) + "\n";
  }
  key += ir::to_string(base) + "\n";
  for (const auto& c : t.chains)
    if (!c.base) key += ir::to_string(c) + "\n";
  return key;
}

std::string compile_key(const std::vector<chain::HookChain>& chains, flavor::Flavor f) {
  std::string key = fmt::format("{}\n", flavor::flavor_name(f));
  for (const auto& hc : chains) key += compile_key(*hc.table, *hc.chain);
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

OffloadHook::OffloadHook(std::unique_ptr<codegen::kernel::Kernel> kernel, DeviceResolver devices, PersistOptions persist)
    : kernel_(std::move(kernel)), devices_(std::move(devices)), persist_(std::move(persist)) {}

OffloadHook::~OffloadHook() {
  // Detach before the programs and maps go (member order would do it too; be explicit).
  new_dispatchers_.clear();
  dispatchers_.clear();
}

Result<chain::RuntimeTables*> OffloadHook::runtime() {
  if (!rt_) {
    auto rt = chain::RuntimeTables::create(*kernel_, counter_slots_);
    if (!rt) return std::unexpected(std::move(rt).error().with_context("creating the shared state maps"));
    if (!persist_.bpffs.empty()) {
      chain::RuntimeTables::unpin(persist_.bpffs);  // stale pins of a state that was not adopted
      if (auto p = rt->pin(persist_.bpffs); !p)
        return std::unexpected(std::move(p).error().with_context("pinning the shared state maps"));
    }
    rt_.emplace(std::move(*rt));
  }
  return &*rt_;
}

Result<OffloadHook::ProgramPtr> OffloadHook::program_for(const std::vector<chain::HookChain>& chains, flavor::Flavor f,
                                                         const std::map<std::string, ProgramPtr>& live_by_key) {
  // Counting the policy costs every packet that reaches it an update: only for chains with stats.
  const bool count_policy = std::any_of(chains.begin(), chains.end(), [&](const chain::HookChain& hc) {
    return next_policy_stats_.contains(chain::policy_counter_key(hc.table->family, hc.table->name, hc.chain->name));
  });
  std::string key = compile_key(chains, f) + (count_policy ? "counts policy\n" : "");
  const ir::Chain& c = *chains.front().chain;  // names the program and the errors
  auto find_set = [&](ir::Family fam, const std::string& table, const std::string& set)
      -> std::pair<const ir::Table*, const ir::Set*> {
    for (const auto& hc : chains)
      if (hc.table->family == fam && hc.table->name == table) return {hc.table, ir::find_set(*hc.table, set)};
    return {nullptr, nullptr};
  };
  if (auto it = live_by_key.find(key); it != live_by_key.end()) {
    // Same program; only named sets' elements may differ: queue their map updates for commit().
    std::vector<SetUpdate> updates;
    bool fits = true;
    for (const auto& [name, live] : it->second->sets) {
      auto [t, s] = find_set(live.family, live.table, live.set);
      if (!s) { fits = false; break; }
      auto contents = set_contents(*t, *s, deadlines_, live.contents.max_entries);
      if (!contents) {
        // Too many elements for the map (or an element codegen cannot place): build it anew.
        log::info("offload: set {} {} {} is rebuilt: {}", ir::to_string(live.family), live.table, live.set,
                  contents.error().describe());
        fits = false;
        break;
      }
      if (contents->entries != live.contents.entries)
        updates.push_back(SetUpdate{it->second, name, std::move(*contents)});
    }
    if (fits) {
      ++stats_.reused;
      for (auto& u : updates) next_set_updates_.push_back(std::move(u));
      return it->second;
    }
  }
  auto rt = runtime();
  if (!rt) return std::unexpected(std::move(rt).error());
  using Clock = std::chrono::steady_clock;
  const auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  const auto t0 = Clock::now();
  chain::CompileOptions opts = (*rt)->options(prog_name(c.name));
  opts.count_policy = count_policy;
  auto cc = chain::compile_hook(chains, f, opts);
  if (!cc) return std::unexpected(std::move(cc).error());
  const double compile_ms = ms_since(t0);
  const auto t1 = Clock::now();
  auto loaded = chain::load_chain(*kernel_, *cc, **rt);
  // The block planner's estimate of the verifier's work can fall short for some mixes of rule
  // shapes (E2BIG: more than 1 000 000 instructions processed): plan smaller blocks, twice at most.
  // Slots the first compile allocated stay fresh (to be zeroed and seeded) for the next.
  for (int retry = 0; !loaded && loaded.error().err == E2BIG && retry < 2; ++retry) {
    std::set<chain::SlotKey> fresh;
    for (auto* uses : {&cc->counters, &cc->quotas, &cc->limits, &cc->policy_counters})
      for (const chain::SlotUse& u : *uses)
        if (u.fresh) fresh.insert(u.key);
    opts.blocks.verify_scale *= 4;
    log::warn("offload: chain {}: the verifier refused a block as too complex (E2BIG); planning smaller blocks "
              "(verifier-work estimate x{})", c.name, opts.blocks.verify_scale);
    cc = chain::compile_hook(chains, f, opts);
    if (!cc) return std::unexpected(std::move(cc).error());
    for (auto* uses : {&cc->counters, &cc->quotas, &cc->limits, &cc->policy_counters})
      for (chain::SlotUse& u : *uses) u.fresh = u.fresh || fresh.contains(u.key);
    loaded = chain::load_chain(*kernel_, *cc, **rt);
  }
  const double load_ms = ms_since(t1);
  if (!loaded) return std::unexpected(std::move(loaded).error().with_context(fmt::format("loading chain {}", c.name)));
  if ((*rt)->log_ring && !log_events_) {  // the first program with a log statement
    auto le = LogEvents::start((*rt)->log_ring->fd());
    if (!le) return std::unexpected(std::move(le).error().with_context("starting the log reader"));
    log_events_ = std::move(*le);
  }
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
  auto prog = std::make_shared<Program>(Program{std::move(key), std::move(*loaded), keys_of(cc->counters),
                                                keys_of(cc->quotas), keys_of(cc->limits), compile_ms, load_ms, {}});
  for (const chain::SetMap& sm : cc->sets) {
    auto [t, s] = find_set(sm.family, sm.table, sm.set);
    if (!s || (s->flags & ir::kSetAnonymous)) continue;
    auto contents = set_contents(*t, *s, deadlines_, sm.spec.max_entries);
    if (!contents) return std::unexpected(std::move(contents).error().with_context(fmt::format("chain {}", c.name)));
    prog->sets.emplace(chain::set_map_key(sm.family, sm.table, sm.set),
                       Program::LiveSet{sm.family, sm.table, sm.set, std::move(*contents)});
  }
  return prog;
}

std::map<OffloadHook::RuleId, std::vector<codegen::abi::Counter>> OffloadHook::collect_initial_counters(
    const store::Ruleset& next) {
  initial_counters_.clear();
  next_policy_stats_.clear();
  next_stats_writes_.clear();
  next_quota_writes_.clear();
  replaced_.clear();
  std::map<RuleId, std::vector<codegen::abi::Counter>> by_rule;
  for (const auto& t : next.tables) {
    if (!t->vis.active_next()) continue;
    const ir::Family fam = translate::nft::family_from_nfproto(t->family);
    for (const auto& o : t->objects)
      if (o->vis.active_next() && o->type == NFT_OBJECT_COUNTER)
        initial_counters_[chain::SlotKey{fam, t->name, {}, 0, 0, fmt::format("counter:{}", o->name)}] = read_counter_attrs(o->data);
    for (const auto& c : t->chains) {
      if (!c->vis.active_next()) continue;
      if (c->hook && (c->hook->stats || c->hook->stats_pending)) {
        const auto key = chain::policy_counter_key(fam, t->name, c->name);
        next_policy_stats_.insert(key);
        if (c->hook->stats_pending) {  // an update replaces them (nft_chain_stats_replace)
          const codegen::abi::Counter v{c->hook->stats_pending->packets, c->hook->stats_pending->bytes};
          initial_counters_[key] = v;
          next_stats_writes_[key] = v;
        } else if (auto slot = rt_ ? rt_->slots.counters.find(key) : std::nullopt; slot) {
          // Counting already: a recompiled program that drops the slot and a later one that takes
          // it again must not lose what was counted since the last dump.
          if (auto v = rt_->counters.read(*slot)) initial_counters_[key] = *v;
        } else {
          initial_counters_[key] = {c->hook->stats->packets, c->hook->stats->bytes};
        }
      }
      // A replaced rule (NLM_F_REPLACE) keeps its handle, so its slots' keys too: the kernel's new
      // rule starts from the values it was given, so those are written over the old counts.
      std::set<uint64_t> leaving;
      for (const auto& r : c->rules)
        if (r.vis.cur && !r.vis.next) leaving.insert(r.handle);
      for (const auto& r : c->rules) {
        if (!r.vis.active_next()) continue;
        if (!r.vis.cur && leaving.contains(r.handle)) replaced_.insert(RuleId{t->family, t->name, c->name, r.handle});
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
    if (lowering_ || !t->vis.active_next() || family_offloaded(t->family)) continue;
    for (const auto& c : t->chains)
      if (c->vis.active_next() && c->is_base())
        return failf(EOPNOTSUPP, "chain {} of table {}: family {} is not offloaded", c->name, t->name,
                     t->family == NFPROTO_ARP ? "arp" : t->family == NFPROTO_BRIDGE ? "bridge" : std::to_string(t->family));
  }
  auto rs = lowering_ ? lowering_(next) : ruleset_to_ir(next);
  if (!rs) return std::unexpected(std::move(rs).error());
  // Extra tables (iptables-legacy's) after the store's: plan indices >= first_extra are theirs.
  const size_t first_extra = rs->tables.size();
  next_extra_ = pending_extra_ ? *pending_extra_ : extra_;
  for (const ExtraTable& x : *next_extra_) rs->tables.push_back(x.table);
  apply_test_fault(*rs);  // test-only, inert unless NFBPF_TEST_FAULT is set (test_fault.h)
  // Conntrack on (kernel anchor table) before any new program can run; abort() undoes it.
  NFBPF_TRYV(ct_anchor_.stage(conntrack_needs(*rs)));
  auto plan = plan_attachments(*rs, devices_);
  if (!plan) return std::unexpected(std::move(plan).error());

  const auto initial_by_rule = collect_initial_counters(next);
  deadlines_ = element_deadlines(next);

  // Counter and quota statements of every rule, by rule, in order (for listings).
  for (const auto& t : rs->tables) {
    const uint8_t nfproto = nfproto_of(t.family);
    for (const auto& c : t.chains)
      for (const auto& r : c.rules)
        for (size_t i = 0; i < r.steps.size(); ++i)
          if (std::holds_alternative<ir::Counter>(r.steps[i]) && r.merged && i + 1 == r.steps.size()) {
            // A merged run (merge_runs.h) counts each of its rules in a slot keyed by that rule's
            // handle and the merged rule's counter step.
            for (uint64_t h : r.merged->handles)
              next_counters_[RuleId{nfproto, t.name, c.name, h}].push_back(
                  chain::SlotKey{t.family, t.name, c.name, h, static_cast<uint32_t>(i), {}});
          } else if (std::holds_alternative<ir::Counter>(r.steps[i]))
            next_counters_[RuleId{nfproto, t.name, c.name, r.handle}].push_back(
                chain::SlotKey{t.family, t.name, c.name, r.handle, static_cast<uint32_t>(i), {}});
          else if (std::holds_alternative<ir::Quota>(r.steps[i]))
            next_quotas_[RuleId{nfproto, t.name, c.name, r.handle}].push_back(
                chain::SlotKey{t.family, t.name, c.name, r.handle, static_cast<uint32_t>(i), {}});
  }

  for (const auto& [rid, values] : initial_by_rule) {
    auto keys = next_counters_.find(rid);
    if (keys == next_counters_.end()) continue;
    for (size_t n = 0; n < values.size() && n < keys->second.size(); ++n) {
      initial_counters_[keys->second[n]] = values[n];
      if (replaced_.contains(rid)) next_stats_writes_[keys->second[n]] = values[n];
    }
  }
  // A replaced rule's quotas start from zero consumed (the store zeroes an initial `used`).
  for (const RuleId& rid : replaced_)
    if (auto q = next_quotas_.find(rid); q != next_quotas_.end())
      for (const auto& key : q->second) next_quota_writes_.insert(key);

  // When each base chain's hook was registered: chains already running keep their time, new ones
  // are registered now, in the order their NEWCHAIN messages came (tables' handles are global
  // and chains' handles grow within a table).
  auto ident = [&](size_t i) {
    const ir::Table& t = rs->tables[(*plan)[i].table];
    const ir::Chain* c = ir::find_chain(t, (*plan)[i].chain);
    return ChainIdent{nfproto_of(t.family), t.name, t.handle, c->name, c->handle};
  };
  std::vector<size_t> fresh;
  for (size_t i = 0; i < plan->size(); ++i) {
    if ((*plan)[i].table >= first_extra) {  // registered when their table was instantiated
      next_registered_[ident(i)] = (*next_extra_)[(*plan)[i].table - first_extra].registered;
      continue;
    }
    auto known = registered_.find(ident(i));
    if (known != registered_.end()) next_registered_[known->first] = known->second;
    else fresh.push_back(i);
  }
  std::ranges::sort(fresh, [&](size_t a, size_t b) {
    const ChainIdent ia = ident(a), ib = ident(b);
    return std::tie(std::get<2>(ia), std::get<4>(ia)) < std::tie(std::get<2>(ib), std::get<4>(ib));
  });
  for (size_t i : fresh) next_registered_[ident(i)] = ++registration_clock_;
  const std::vector<HookPlan> hooks = plan_hooks(*plan, [&](size_t i) { return next_registered_.at(ident(i)); });

  // One program per distinct chain sequence: an inet chain alone at its IPv4 and IPv6 points is
  // one program; next to an ip chain at the IPv4 point it is a second one.
  std::map<std::string, ProgramPtr> live_by_key;
  for (const auto& [at, prog] : live_) live_by_key.emplace(prog->key, prog);
  std::map<std::vector<size_t>, ProgramPtr> by_sequence;
  for (const HookPlan& hp : hooks) {
    ProgramPtr& prog = by_sequence[hp.chains];
    if (!prog) {
      std::vector<chain::HookChain> chains;
      std::string where;
      for (size_t i : hp.chains) {
        const ir::Table& t = rs->tables[(*plan)[i].table];
        chains.push_back(chain::HookChain{&t, ir::find_chain(t, (*plan)[i].chain)});
        where += (where.empty() ? "" : " and ") + (*plan)[i].where;
      }
      preparing_ = (*plan)[hp.chains.front()].where;
      auto p = program_for(chains, (*plan)[hp.chains.front()].flavor, live_by_key);
      if (!p) return std::unexpected(std::move(p).error().with_context("chain " + where));
      prog = *p;
    }
    next_[hp.at] = prog;
    if (dispatchers_.contains(hp.at) || new_dispatchers_.contains(hp.at)) continue;
    const std::string& where = (*plan)[hp.chains.front()].where;
    // Attached with an empty slot that lets packets through (the flavor's accept), so nothing
    // changes for packets until commit() installs the chain; an attach failure (EBUSY, bad
    // priority) is thereby a batch error.
    auto d = runtime::Dispatcher::create(*kernel_, hp.at.flavor, flavor::flavor_ops(hp.at.flavor).accept);
    if (!d) return std::unexpected(std::move(d).error().with_context("chain " + where));
    if (auto a = d->attach(hp.at.point()); !a)
      return std::unexpected(std::move(a).error().with_context(
          fmt::format("attaching chain {} at {}", where, hp.at.describe())));
    new_dispatchers_.emplace(hp.at, std::move(*d));
  }

  for (const ChainPlan& p : *plan) {
    const ir::Table& t = rs->tables[p.table];
    const ir::Chain* c = ir::find_chain(t, p.chain);
    ChainStatus info{.family = std::string(ir::to_string(t.family)),
                     .table = t.name,
                     .chain = c->name,
                     .type = std::string(ir::to_string(c->base->type)),
                     .hook = std::string(ir::to_string(c->base->hook)),
                     .priority = c->base->priority,
                     .devices = c->base->devices,
                     .attached = p.at};
    // A chain sharing a point with others runs in more than one program: status shows the one
    // at its first attach point.
    if (p.at.empty()) continue;
    next_chains_.push_back(PlannedChain{std::move(info), next_.at(p.at.front())});
  }
  preparing_.clear();
  return {};
}

Result<void> OffloadHook::prepare(const store::Ruleset& next) {
  abort();  // nothing may be left over from a prepare that was not followed by commit/abort
  next_rs_ = &next;
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
  // Replaced chain counters and replaced rules' state first: the programs installed below count
  // on from them.
  for (const auto& [key, v] : next_stats_writes_)
    if (auto slot = rt_ ? rt_->slots.counters.find(key) : std::nullopt; slot)
      if (auto w = rt_->counters.write(*slot, v); !w)
        log::warn("offload: replacing the counters of chain {}: {}", key.chain, w.error().describe());
  next_stats_writes_.clear();
  for (const auto& key : next_quota_writes_)
    if (auto slot = rt_ ? rt_->slots.quotas.find(key) : std::nullopt; slot) {
      const uint64_t zero = 0;
      if (auto w = rt_->quotas.update(&*slot, &zero); !w)
        log::warn("offload: resetting the quota of replaced rule {}: {}", key.handle, w.error().describe());
    }
  next_quota_writes_.clear();
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
  registered_ = std::move(next_registered_);
  next_registered_.clear();
  live_chains_ = std::move(next_chains_);
  next_chains_.clear();
  if (next_extra_) extra_ = std::move(*next_extra_);
  next_extra_.reset();
  if (next_rs_) committed_rs_ = next_rs_;
  initial_counters_.clear();
  apply_set_updates();
  release_unused_slots();
  stats_.attach_points = dispatchers_.size();
  if (!persist_.bpffs.empty() || !persist_.state_dir.empty()) persist();
  next_rs_ = nullptr;
  ct_anchor_.commit();  // after the swap: no running program reads ct of a dropped family
}

void OffloadHook::abort() {
  prepared_ = false;
  next_.clear();
  new_dispatchers_.clear();
  next_counters_.clear();
  next_quotas_.clear();
  next_registered_.clear();
  next_chains_.clear();
  next_extra_.reset();
  preparing_.clear();
  initial_counters_.clear();
  next_stats_writes_.clear();
  next_quota_writes_.clear();
  next_set_updates_.clear();
  release_unused_slots();
  ct_anchor_.abort();
}

Result<void> OffloadHook::replace_extra_tables(std::vector<ExtraTable> tables, const std::function<void()>& before_swap) {
  static const store::Ruleset kNoNftRuleset;
  pending_extra_ = std::move(tables);
  auto r = prepare(committed_rs_ ? *committed_rs_ : kNoNftRuleset);
  pending_extra_.reset();
  if (!r) return r;
  if (before_swap) before_swap();
  commit();
  return {};
}

void OffloadHook::apply_set_updates() {
  // No expiry may run while the maps change: it could delete an element this commit adds again.
  expiry_.replace({});
  const uint64_t now = store::now_ms();
  for (SetUpdate& u : next_set_updates_) {
    Program::LiveSet& live = u.prog->sets.at(u.set);
    auto map = u.prog->loaded.set_maps.find(u.set);
    if (map == u.prog->loaded.set_maps.end()) continue;
    // New elements first, then the deleted ones: a packet sees the old or the new set for each
    // element, but the batch's elements change one after the other (the kernel flips them all at
    // once with the generation).
    const SetDiff d = diff_sets(live.contents, u.contents, now);
    for (const auto& [key, value] : d.put)
      if (auto r = map->second.update(key.data(), value.data()); !r)
        log::error("offload: updating set {} in place: {}", live.set, r.error().describe());
    for (const auto& key : d.remove)
      if (auto r = map->second.remove(key.data()); !r && r.error().err != ENOENT)
        log::error("offload: deleting from set {} in place: {}", live.set, r.error().describe());
    stats_.set_entries_written += d.put.size() + d.remove.size();
    ++stats_.sets_updated;
    live.contents = std::move(u.contents);
  }
  next_set_updates_.clear();
  // The expiry schedule: every element with a deadline in every running program's maps.
  std::vector<ElementExpiry::Due> due;
  std::set<const Program*> seen;
  for (const auto& [at, prog] : live_) {
    if (!seen.insert(prog.get()).second) continue;
    for (const auto& [name, live] : prog->sets) {
      std::shared_ptr<const Fd> fd;
      for (const auto& [key, entry] : live.contents.entries) {
        if (!entry.expires_at_ms) continue;
        if (!fd) fd = share_fd(prog->loaded.set_maps.at(name).fd());
        due.push_back(ElementExpiry::Due{*entry.expires_at_ms, fd, key});
      }
    }
  }
  expiry_.replace(std::move(due));
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
  // none: no running rule refers to it
  return rt_->slots.counters.find(chain::SlotKey{translate::nft::family_from_nfproto(nfproto), std::string(table), {},
                                                 0, 0, fmt::format("counter:{}", name)});
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

std::optional<uint32_t> OffloadHook::object_quota_slot(uint8_t nfproto, std::string_view table,
                                                      std::string_view name) const {
  if (!rt_) return std::nullopt;
  // Keyed as codegen keys a quota object's slot (compile.cpp, ObjectRef); none: no running rule uses it.
  return rt_->slots.quotas.find(chain::SlotKey{translate::nft::family_from_nfproto(nfproto), std::string(table), {}, 0, 0,
                                               fmt::format("quota:{}", name)});
}

std::optional<uint64_t> OffloadHook::object_quota_used(uint8_t nfproto, std::string_view table,
                                                       std::string_view name) const {
  auto slot = object_quota_slot(nfproto, table, name);
  if (!slot) return std::nullopt;
  uint64_t used = 0;
  if (!rt_->quotas.lookup(&*slot, &used)) return std::nullopt;
  return used;
}

bool OffloadHook::reset_object_quota(uint8_t nfproto, std::string_view table, std::string_view name) {
  auto slot = object_quota_slot(nfproto, table, name);
  if (!slot) return false;
  const uint64_t zero = 0;
  if (auto w = rt_->quotas.update(&*slot, &zero); !w) {
    log::warn("offload: resetting quota slot {}: {}", *slot, w.error().describe());
    return false;
  }
  return true;
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
  OffloadStatus s{.mode = mode_, .last_refused = last_refused_, .compiled = stats_.compiled, .reused = stats_.reused};
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
    // A split chain (codegen/chain/blocks.h): the other blocks' instructions and verifier work too.
    for (const codegen::kernel::Prog& block : pc.prog->loaded.blocks) {
      c.insns += block.insn_count();
      ++c.blocks;
      bpf_prog_info bi{};
      uint32_t blen = sizeof(bi);
      if (block.fd() < 0 || ::bpf_prog_get_info_by_fd(block.fd(), &bi, &blen) != 0 ||
          blen <= offsetof(bpf_prog_info, verified_insns) || !c.verified_insns)
        continue;
      c.verified_insns_max = std::max(c.verified_insns_max.value_or(*c.verified_insns), bi.verified_insns);
      *c.verified_insns += bi.verified_insns;
    }
    const std::string where = fmt::format("{} {} {}", c.family, c.table, c.chain);
    if (last_refused_ && last_refused_->chain == where) c.refused = last_refused_->error;
    s.chains.push_back(std::move(c));
  }
  return s;
}

void OffloadHook::refresh_chain_stats(store::Ruleset& cur) const {
  if (!rt_) return;
  for (auto& t : cur.tables) {
    if (!t->vis.cur) continue;
    const ir::Family fam = translate::nft::family_from_nfproto(t->family);
    for (auto& c : t->chains) {
      if (!c->vis.cur || !c->hook || !c->hook->stats) continue;
      // No slot: no program counts this chain's policy (kernel-placed, or the policy is unreachable).
      auto slot = rt_->slots.counters.find(chain::policy_counter_key(fam, t->name, c->name));
      if (!slot) continue;
      if (auto v = rt_->counters.read(*slot)) c->hook->stats = store::BaseHook::Stats{v->packets, v->bytes};
    }
  }
}

void OffloadHook::before_dump(store::Ruleset& cur) {
  if (live_.empty()) return;
  refresh_chain_stats(cur);
  refresh_rule_counters(
      cur,
      [this](uint8_t nfproto, std::string_view t, std::string_view c, uint64_t h, size_t nth) {
        return rule_counter(nfproto, t, c, h, nth);
      },
      [this](uint8_t nfproto, std::string_view t, std::string_view name) { return object_counter(nfproto, t, name); });
  refresh_rule_quotas(
      cur,
      [this](uint8_t nfproto, std::string_view t, std::string_view c, uint64_t h, size_t nth) {
        return rule_quota_used(nfproto, t, c, h, nth);
      },
      [this](uint8_t nfproto, std::string_view t, std::string_view name) { return object_quota_used(nfproto, t, name); });
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
    store::Table* t = table_of(ro.nfproto, ro.table);
    if (!t) continue;
    if (ro.type == NFT_OBJECT_QUOTA) {  // nft_quota_do_dump with reset: consumed back to zero, not depleted
      for (auto& o : t->objects)
        if (o->vis.cur && o->type == NFT_OBJECT_QUOTA && o->name == ro.name) write_quota_state(o->data, 0);
      reset_object_quota(ro.nfproto, ro.table, ro.name);
      continue;
    }
    if (ro.type != NFT_OBJECT_COUNTER) continue;
    for (auto& o : t->objects)
      if (o->vis.cur && o->type == NFT_OBJECT_COUNTER && o->name == ro.name) write_counter_attrs(o->data, {});
    reset_object_counter(ro.nfproto, ro.table, ro.name);
  }
}

}  // namespace nfbpf::offload
