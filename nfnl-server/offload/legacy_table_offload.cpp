#include "nfnl-server/offload/legacy_table_offload.h"

#include <linux/netfilter.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "common/log.h"
#include "translate/ipt/lower.h"
#include "translate/passes/pipeline.h"

namespace nfbpf::offload {

namespace ipt = translate::ipt;
using nfnl::sockopt::XtTable;

namespace {

constexpr std::string_view kOffloadedTable = "filter";

const char* prefix(int family) { return family == AF_INET6 ? "ip6" : "ip"; }

ipt::IptTableBlob blob_of(int family, const XtTable& t) {
  ipt::IptTableBlob b{.family = family, .table = t.name, .valid_hooks = t.valid_hooks, .entries = t.info.entries};
  for (size_t h = 0; h < b.hook_entry.size() && h < t.info.hook_entry.size(); ++h) {
    b.hook_entry[h] = t.info.hook_entry[h];
    b.underflow[h] = t.info.underflow[h];
  }
  return b;
}

// A table whose hook chains hold nothing but their ACCEPT policy: it changes no packet.
bool accepts_everything(const ir::Table& t) {
  for (const ir::Chain& c : t.chains) {
    if (!c.base) return false;
    if (c.policy != ir::VerdictKind::kAccept) return false;
    for (const ir::Rule& r : c.rules) {
      if (r.verdict.kind != ir::VerdictKind::kAccept) return false;
      for (const ir::Step& s : r.steps)
        if (!std::holds_alternative<ir::Counter>(s)) return false;
    }
  }
  return true;
}

}  // namespace

Result<LegacyTableOffload::Running> LegacyTableOffload::lower(int family, const XtTable& t, uint64_t gen) const {
  auto lowered = ipt::lower_ipt_table(blob_of(family, t));
  if (!lowered) return std::unexpected(std::move(lowered).error());
  Running r;
  r.ir = std::move(*lowered);
  // A fresh name per replace: fresh counter slots (see the header) and no clash with an nft table.
  r.ir.name = fmt::format("iptables-legacy/{}/{}", t.name, gen);
  if (auto p = translate::passes::run_pipeline(r.ir); !p) return std::unexpected(std::move(p).error());
  r.entry_rule.resize(t.info.number);
  for (const ir::Chain& c : r.ir.chains)
    for (const ir::Rule& rule : c.rules) {
      // A merged run (merge_runs.h) stands for several entries, each counted under its own handle.
      const std::vector<uint64_t> handles = rule.merged ? rule.merged->handles : std::vector<uint64_t>{rule.handle};
      for (uint64_t h : handles)
        if (h < ipt::kSyntheticHandle && h < r.entry_rule.size()) r.entry_rule[h] = std::pair{c.name, h};
    }
  return r;
}

std::vector<xt_counters> LegacyTableOffload::read(const Running& r, size_t entries) const {
  std::vector<xt_counters> out(entries);
  const uint8_t nfproto = r.ir.family == ir::Family::kIp6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
  for (size_t i = 0; i < entries && i < r.entry_rule.size(); ++i) {
    if (!r.entry_rule[i]) continue;
    // The entry's counter is its rule's first Counter step (lower.h: ADD_COUNTER after the matches).
    auto v = hook_.rule_counter(nfproto, r.ir.name, r.entry_rule[i]->first, r.entry_rule[i]->second, 0);
    if (v) out[i] = xt_counters{.pcnt = v->packets, .bcnt = v->bytes};
  }
  return out;
}

Result<void> LegacyTableOffload::swap_bpf(const TableId& id, const XtTable& current, std::optional<Running> fresh,
                                          std::vector<xt_counters>& retired) {
  std::vector<OffloadHook::ExtraTable> tables;
  for (const auto& [other, r] : running_)
    if (other != id) tables.push_back(OffloadHook::ExtraTable{r.ir, r.registered});
  if (fresh) tables.push_back(OffloadHook::ExtraTable{fresh->ir, fresh->registered});
  auto old = running_.find(id);
  auto done = hook_.replace_extra_tables(std::move(tables), [&] {
    // The old programs still run: what they counted up to now is the old table's count.
    if (old != running_.end()) retired = read(old->second, current.info.number);
  });
  if (!done) return std::unexpected(std::move(done).error());
  if (fresh)
    running_[id] = std::move(*fresh);
  else if (old != running_.end())
    running_.erase(old);
  return {};
}

Result<std::vector<xt_counters>> LegacyTableOffload::replace(int family, const XtTable& current, const XtTable& next) {
  if (kernel_) return replace_hybrid(family, current, next);
  const TableId id{family, next.name};
  if (next.name != kOffloadedTable) {
    auto lowered = ipt::lower_ipt_table(blob_of(family, next));
    if (lowered && accepts_everything(*lowered)) return std::vector<xt_counters>{};
    return failf(EOPNOTSUPP,
                 "{}tables table {}: only the filter table runs as BPF (nfbpfd --offload=strict); the {} table is "
                 "stored and listed with --offload=none",
                 prefix(family), next.name, next.name);
  }
  auto fresh = lower(family, next, ++generation_);
  if (!fresh) return std::unexpected(std::move(fresh).error().with_context(fmt::format("{}tables {}", prefix(family), next.name)));
  auto reg = registered_.find(id);
  fresh->registered = reg != registered_.end() ? reg->second : hook_.register_hooks_now();
  std::vector<xt_counters> retired;
  if (auto done = swap_bpf(id, current, std::move(*fresh), retired); !done) return std::unexpected(std::move(done).error());
  return retired;
}

Result<std::vector<xt_counters>> LegacyTableOffload::replace_hybrid(int family, const XtTable& current,
                                                                    const XtTable& next) {
  const TableId id{family, next.name};
  const bool was_in_kernel = in_kernel_.contains(id);
  std::string why = next.name == kOffloadedTable ? std::string() : "only the filter table runs as BPF";
  // Once the kernel runs the filter table it keeps it: x_tables tables cannot be unregistered,
  // and a BPF netfilter link cannot join a priority a hook already holds (EBUSY), so BPF could
  // never attach at NF_IP_PRI_FILTER again in this namespace.
  if (next.name == kOffloadedTable && !was_in_kernel) {
    auto fresh = lower(family, next, ++generation_);
    Result<void> done = fresh ? Result<void>{} : std::unexpected(fresh.error());
    if (fresh) {
      auto reg = registered_.find(id);
      fresh->registered = reg != registered_.end() ? reg->second : hook_.register_hooks_now();
      std::vector<xt_counters> retired;
      done = swap_bpf(id, current, std::move(*fresh), retired);
      if (done) return retired;
    }
    // EOPNOTSUPP: a rule BPF cannot run; EBUSY: a hook (e.g. a kernel nft chain) holds the priority.
    if (done.error().err != EOPNOTSUPP && done.error().err != EBUSY)
      return std::unexpected(std::move(done).error().with_context(fmt::format("{}tables {}", prefix(family), next.name)));
    log::info("{}tables {}: BPF cannot run it ({}); the kernel's x_tables run it", prefix(family), next.name,
              done.error().describe());
    why = done.error().describe();
  } else if (!was_in_kernel) {
    // An empty table changes no verdict: nothing to place (as strict mode takes it).
    auto lowered = ipt::lower_ipt_table(blob_of(family, next));
    if (lowered && accepts_everything(*lowered)) return std::vector<xt_counters>{};
  }

  // The kernel first: if it refuses the blob, nothing has changed anywhere.
  auto old = kernel_->replace(family, next);
  if (!old) return std::unexpected(std::move(old).error().with_context(fmt::format("{}tables {}", prefix(family), next.name)));
  std::vector<xt_counters> retired = old->size() == current.info.number ? *old : std::vector<xt_counters>{};
  if (running_.contains(id)) {
    retired.clear();
    if (auto done = swap_bpf(id, current, std::nullopt, retired); !done) {
      // BPF keeps running the old table: take the new one back out of the kernel.
      if (auto undo = kernel_->empty(family, next.name); !undo)
        log::warn("{}tables: the kernel's {} table could not be emptied: {}", prefix(family), next.name,
                  undo.error().describe());
      return std::unexpected(std::move(done).error());
    }
  }
  if (!was_in_kernel) log::info("{}tables {}: placed in the kernel's x_tables", prefix(family), next.name);
  if (!was_in_kernel) in_kernel_[id] = why;
  return retired;
}

std::vector<xt_counters> LegacyTableOffload::counted(int family, const XtTable& t) {
  if (in_kernel_.contains(TableId{family, t.name})) {
    auto c = kernel_->counters(family, t.name);
    if (!c) {
      log::warn("{}tables: counters of the kernel's {} table: {}", prefix(family), t.name, c.error().describe());
      return {};
    }
    return c->size() == t.info.number ? *c : std::vector<xt_counters>{};
  }
  auto it = running_.find(TableId{family, t.name});
  if (it == running_.end() || it->second.entry_rule.size() != t.info.number) return {};
  return read(it->second, t.info.number);
}

void LegacyTableOffload::instantiated(int family, const XtTable& table) {
  const TableId id{family, table.name};
  registered_[id] = hook_.register_hooks_now();
  if (table.name != kOffloadedTable) return;
  // The built-in table (policies ACCEPT) runs from now on and counts its policies.
  if (auto r = replace(family, table, table); !r)
    log::warn("{}tables: the built-in {} table does not run as BPF: {}", prefix(family), table.name,
              r.error().describe());
}

void LegacyTableOffload::release_kernel_tables() {
  for (const auto& [id, why] : in_kernel_)
    if (auto r = kernel_->empty(id.first, id.second); !r)
      log::warn("{}tables: the kernel's {} table could not be emptied: {}", prefix(id.first), id.second, r.error().describe());
  in_kernel_.clear();
}

void LegacyTableOffload::release_bpf_tables() {
  if (running_.empty()) return;
  if (auto r = hook_.replace_extra_tables({}, [] {}); !r)
    log::warn("iptables-legacy: the BPF-run tables could not be removed on stop: {}", r.error().describe());
  else
    running_.clear();
}

std::vector<LegacyTableStatus> LegacyTableOffload::status() const {
  std::set<TableId> ids;
  for (const auto& [id, at] : registered_) ids.insert(id);
  for (const auto& [id, r] : running_) ids.insert(id);
  for (const auto& [id, why] : in_kernel_) ids.insert(id);
  std::vector<LegacyTableStatus> out;
  for (const TableId& id : ids) {
    LegacyTableStatus s{.family = id.first == AF_INET6 ? "ip6" : "ip", .table = id.second, .where = "none"};
    if (auto k = in_kernel_.find(id); k != in_kernel_.end()) {
      s.where = "kernel";
      s.reason = k->second;
    } else if (running_.contains(id)) {
      s.where = "bpf";
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::string> LegacyTableOffload::running_name(int family, const std::string& table) const {
  auto it = running_.find(TableId{family, table});
  if (it == running_.end()) return std::nullopt;
  return it->second.ir.name;
}

}  // namespace nfbpf::offload
