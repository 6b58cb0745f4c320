#include "nfnl-server/offload/hybrid_hook.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <set>
#include <tuple>

#include <fmt/format.h>

#include "common/log.h"
#include "nfnl-server/offload/counter_listing.h"
#include "nfnl-server/offload/hook_order.h"
#include "nfnl-server/offload/reset_targets.h"
#include "nfnl-server/offload/store_to_ir.h"
#include "translate/ir/fields.h"
#include "translate/nft/lower.h"

namespace nfbpf::offload {

namespace {

bool bpf_family(uint8_t nfproto) {
  return nfproto == NFPROTO_IPV4 || nfproto == NFPROTO_IPV6 || nfproto == NFPROTO_INET || nfproto == NFPROTO_NETDEV;
}

std::string family_name(uint8_t nfproto) {
  switch (nfproto) {
    case NFPROTO_ARP: return "arp";
    case NFPROTO_BRIDGE: return "bridge";
    default: return std::string(ir::to_string(translate::nft::family_from_nfproto(nfproto)));
  }
}

// Enough retries for every base chain of a large ruleset to be refused one at a time is not the
// aim: a refusal per attempt is rare (codegen limits, verifier); past this the batch is refused.
constexpr int kMaxAttempts = 16;

}  // namespace

TableFacts table_facts(const store::Table& t) {
  TableFacts f{.family = family_name(t.family), .name = t.name, .bpf_family = bpf_family(t.family)};
  for (const auto& c : t.chains) {
    if (!c->vis.active_next()) continue;
    ChainFacts cf{.name = c->name, .base = c->is_base(), .type = c->hook ? c->hook->type : "filter"};
    std::set<std::string> targets;
    for (const auto& r : c->rules) {
      if (!r.vis.active_next()) continue;
      for (const store::Chain* j : r.jump_targets) targets.insert(j->name);
      for (const store::Set* s : r.set_refs)
        for (const auto& e : s->elems)
          if (e.vis.active_next())
            for (const store::Chain* j : e.jump_targets) targets.insert(j->name);
      if (cf.refusal || !f.bpf_family) continue;
      if (auto lowered = lower_one_rule(t, *c, r); !lowered)
        cf.refusal = fmt::format("rule {}: {}", r.handle, lowered.error().describe());
    }
    cf.targets.assign(targets.begin(), targets.end());
    f.chains.push_back(std::move(cf));
  }
  return f;
}

HybridHook::HybridHook(std::unique_ptr<OffloadHook> bpf) : bpf_(std::move(bpf)) {
  bpf_->set_lowering([this](const store::Ruleset& next) { return lower_bpf_part(next); }, "hybrid");
}

Result<ir::Ruleset> HybridHook::lower_bpf_part(const store::Ruleset& next) {
  next_placement_.clear();
  next_kernel_base_.clear();
  struct Placed {
    const store::Table* table;
    TableKey key;
    TableFacts facts;
    TablePlacement placement;
  };
  static const std::map<std::string, std::string> kNone;
  const auto forced_in = [&](const TableKey& key) -> const std::map<std::string, std::string>& {
    auto f = forced_.find(key);
    return f == forced_.end() ? kNone : f->second;
  };
  std::vector<Placed> placed;
  for (const auto& t : next.tables) {
    if (!t->vis.active_next()) continue;
    const TableKey key{t->family, t->name};
    TableFacts facts = table_facts(*t);
    if (auto r = table_refusals_.find(key); r != table_refusals_.end()) facts.refusal = r->second;
    TablePlacement p = place_table(facts, forced_in(key));
    family_names_[key] = facts.family;
    placed.push_back(Placed{t.get(), key, std::move(facts), std::move(p)});
  }
  // A base chain the kernel already holds stays there while it exists (the same NEWCHAIN,
  // store::Chain::created): its hook is registered there, and a BPF link could neither take its
  // priority (EBUSY while the kernel chain holds it) nor keep its place among chains at its tie.
  std::set<size_t> replace;
  std::map<TableKey, std::map<std::string, std::string>> sticky;  // chain -> why it went to the kernel
  for (size_t i = 0; i < placed.size(); ++i) {
    auto held = kernel_base_.find(placed[i].key);
    if (held == kernel_base_.end()) continue;
    for (const auto& c : placed[i].table->chains) {
      if (!c->vis.active_next() || !c->hook) continue;
      auto h = held->second.find(c->name);
      const ChainPlacement* cp = placed[i].placement.find(c->name);
      if (h == held->second.end() || h->second.created != c->created || !cp || cp->kernel) continue;
      forced_[placed[i].key][c->name] = fmt::format(
          "placed in the kernel when created or by an earlier commit ({}); BPF-able now, it keeps its registration "
          "there, and with it its order among chains at its hook and priority, until it is deleted",
          h->second.why);
      sticky[placed[i].key][c->name] = h->second.why;
      replace.insert(i);
    }
  }
  for (size_t i : replace) placed[i].placement = place_table(placed[i].facts, forced_in(placed[i].key));
  replace.clear();
  // The kernel's order at each hook: BPF-able base chains it would run where BPF cannot follow
  // (hook_order.h) join the kernel, and their tables are placed again.
  std::vector<BaseChainHook> hooks;
  std::vector<std::pair<size_t, std::string>> hook_chain;  // index into `placed`, chain name
  std::set<std::tuple<TableKey, std::string, uint64_t>> staying;  // base chains of `next`
  for (size_t i = 0; i < placed.size(); ++i) {
    const store::Table& t = *placed[i].table;
    for (const auto& c : t.chains)
      if (c->vis.active_next() && c->hook) staying.emplace(placed[i].key, c->name, c->created);
    if (t.flags & NFT_TABLE_F_DORMANT) continue;  // registers no hook
    for (const auto& c : t.chains) {
      if (!c->vis.active_next() || !c->hook) continue;
      const ChainPlacement* cp = placed[i].placement.find(c->name);
      if (!cp) continue;
      hooks.push_back(BaseChainHook{.where = fmt::format("{} {} {}", placed[i].facts.family, t.name, c->name),
                                    .family = t.family, .hooknum = c->hook->hooknum, .priority = c->hook->priority,
                                    .devices = c->hook->devices, .created = c->created, .kernel = cp->kernel});
      hook_chain.emplace_back(i, c->name);
    }
  }
  // Committed kernel chains this batch deletes hold their points until the kernel batch.
  for (const auto& [key, chains] : kernel_base_)
    for (const auto& [name, kb] : chains)
      if (!staying.contains({key, name, kb.created}))
        hooks.push_back(BaseChainHook{.where = kb.where, .family = key.first, .hooknum = kb.hooknum,
                                      .priority = kb.priority, .created = kb.created, .kernel = true,
                                      .leaving = true});
  for (auto& [h, why] : kernel_for_hook_order(hooks)) {
    const auto& [i, chain] = hook_chain[h];
    forced_[placed[i].key][chain] = std::move(why);
    replace.insert(i);
  }
  for (size_t i : replace) placed[i].placement = place_table(placed[i].facts, forced_in(placed[i].key));

  ir::Ruleset out;
  for (Placed& pl : placed) {
    const TablePlacement& p = pl.placement;
    if (p.any_bpf()) {
      auto table = table_to_ir(*pl.table, [&](const store::Chain& c) {
        const ChainPlacement* cp = p.find(c.name);
        return cp && cp->bpf;
      });
      if (!table) {
        // The table's sets or the translator's table passes: the whole table to the kernel.
        table_refusals_[pl.key] = table.error().describe();
        return failf(EAGAIN, "table {} {} moves to the kernel: {}", pl.facts.family, pl.table->name,
                     table.error().describe());
      }
      out.tables.push_back(std::move(*table));
    }
    for (const auto& c : pl.table->chains) {
      const ChainPlacement* cp = p.find(c->name);
      if (!c->vis.active_next() || !c->hook || !cp || !cp->kernel || (pl.table->flags & NFT_TABLE_F_DORMANT)) continue;
      // The first reason is kept (the sticky one would otherwise nest in itself at every commit).
      auto s = sticky[pl.key].find(c->name);
      next_kernel_base_[pl.key][c->name] =
          KernelBase{.created = c->created, .why = s == sticky[pl.key].end() ? cp->reason : s->second,
                     .where = fmt::format("{} {} {}", pl.facts.family, pl.table->name, c->name),
                     .hooknum = c->hook->hooknum, .priority = c->hook->priority};
    }
    next_placement_[pl.key] = std::move(pl.placement);
  }
  return out;
}

Result<void> HybridHook::prepare(const store::Ruleset& next) {
  forced_.clear();
  table_refusals_.clear();
  for (int attempt = 0;; ++attempt) {
    const size_t refused_tables = table_refusals_.size();
    auto r = bpf_->prepare(next);
    if (r) break;
    if (attempt + 1 >= kMaxAttempts) return r;
    if (table_refusals_.size() > refused_tables) continue;  // a table moved to the kernel: again
    // A BPF base chain the error names (codegen, verifier, attach): to the kernel, and again.
    const std::string& msg = r.error().msg;
    bool moved = false;
    for (const auto& [key, p] : next_placement_) {
      for (const ChainPlacement& c : p.chains) {
        if (!c.base || !c.bpf) continue;
        const std::string where = fmt::format("{} {} {}", family_names_[key], key.second, c.chain);
        if (msg.find(where) == std::string::npos) continue;
        forced_[key][c.chain] = fmt::format("BPF refused its program: {}", msg);
        moved = true;
      }
    }
    if (!moved) return r;
    log::info("hybrid: {} (moving that chain to the kernel)", msg);
  }
  if (auto k = kernel_.apply(next, next_placement_); !k) {
    bpf_->abort();
    log::warn("hybrid: the kernel refused the batch: {}", k.error().describe());
    return std::unexpected(std::move(k).error());
  }
  return {};
}

void HybridHook::commit() {
  bpf_->commit();
  kernel_.commit();
  placement_ = std::move(next_placement_);
  next_placement_.clear();
  kernel_base_ = std::move(next_kernel_base_);
  next_kernel_base_.clear();
}

void HybridHook::abort() {
  bpf_->abort();
  kernel_.rollback();
  next_placement_.clear();
  next_kernel_base_.clear();
}

void HybridHook::before_dump(store::Ruleset& cur) { before_dump(cur, nftables::DumpScope{}); }

// Each part read from the kernel is one dump per kernel table (every kernel-placed rule for the
// rules): nft's cache fill sends GETCHAIN and GETOBJ before most commands, and refreshing every
// rule's counters for those made `nft add rule` into 10 000 kernel-placed rules cost 0.15 s.
void HybridHook::before_dump(store::Ruleset& cur, const nftables::DumpScope& scope) {
  bpf_->before_dump(cur);
  bool any = false;
  for (const auto& [key, p] : placement_) any = any || p.any_kernel();
  if (!any) return;
  unsigned parts = KernelTables::kAll;
  switch (scope.type) {
    case NFT_MSG_GETRULE:
    case NFT_MSG_GETRULE_RESET: parts = KernelTables::kRules; break;
    case NFT_MSG_GETCHAIN: parts = KernelTables::kChains; break;
    case NFT_MSG_GETOBJ:
    case NFT_MSG_GETOBJ_RESET: parts = KernelTables::kObjects; break;
    default: break;
  }
  kernel_.refresh(parts, scope.family, scope.table);
  auto sum = [](std::optional<codegen::abi::Counter> a, std::optional<codegen::abi::Counter> b) {
    if (!a) return b;
    if (b) a->packets += b->packets, a->bytes += b->bytes;
    return a;
  };
  const CounterSource rules = [&](uint8_t nfproto, std::string_view t, std::string_view c, uint64_t h, size_t nth) {
    if (!(parts & KernelTables::kRules)) return std::optional<codegen::abi::Counter>();
    auto k = kernel_.rule_counter(nfproto, t, c, h, nth);
    return k ? sum(bpf_->rule_counter(nfproto, t, c, h, nth), k) : std::nullopt;
  };
  const ObjectCounterSource objects = [&](uint8_t nfproto, std::string_view t, std::string_view name) {
    auto k = kernel_.object_counter(nfproto, t, name);
    return k ? sum(bpf_->object_counter(nfproto, t, name), k) : std::nullopt;
  };
  if (parts & (KernelTables::kRules | KernelTables::kObjects))
    refresh_rule_counters(cur, rules, parts & KernelTables::kObjects ? objects : ObjectCounterSource{});
  // Kernel-placed rules' quotas: the bytes the kernel consumed (BPF's were written just before).
  if (parts & KernelTables::kRules)
    refresh_rule_quotas(cur, [&](uint8_t nfproto, std::string_view t, std::string_view c, uint64_t h, size_t nth) {
      return kernel_.rule_quota_used(nfproto, t, c, h, nth);
    });
  // Kernel-placed base chains' counters (the policy packets) from the kernel.
  if (parts & KernelTables::kChains)
    for (auto& t : cur.tables) {
      if (!t->vis.cur) continue;
      for (auto& c : t->chains)
        if (c->vis.cur && c->hook && c->hook->stats)
          if (auto k = kernel_.chain_counters(t->family, t->name, c->name))
            c->hook->stats = store::BaseHook::Stats{k->packets, k->bytes};
    }
}

void HybridHook::after_reset(store::Ruleset& cur, std::span<const std::vector<uint8_t>> replies) {
  bpf_->after_reset(cur, replies);
  const ResetTargets targets = reset_targets(replies);
  for (const ResetRule& rr : targets.rules)
    if (kernel_.holds(rr.nfproto, rr.table)) kernel_.reset_rule(rr.nfproto, rr.table, rr.chain, rr.handle);
  for (const ResetObject& ro : targets.objects)
    if (ro.type == NFT_OBJECT_COUNTER && kernel_.holds(ro.nfproto, ro.table)) kernel_.reset_object(ro.nfproto, ro.table, ro.name);
}

OffloadStatus HybridHook::status() const {
  OffloadStatus s = bpf_->status();
  s.mode = "hybrid";
  for (const auto& [key, p] : placement_) {
    auto fam = family_names_.find(key);
    for (const ChainPlacement& c : p.chains) {
      const std::string where = c.bpf && c.kernel ? "bpf+kernel" : c.bpf ? "bpf" : c.kernel ? "kernel" : "none";
      s.placement.push_back(PlacedChainStatus{.family = fam == family_names_.end() ? "" : fam->second,
                                              .table = key.second, .chain = c.chain, .base = c.base,
                                              .where = where, .reason = c.reason});
    }
  }
  return s;
}

}  // namespace nfbpf::offload
