#pragma once
// The BPF backend behind the nf_tables commit seam (nftables/commit_hook.h).
//
//   prepare(next): store -> IR (store_to_ir.h) -> attach plan (attach_plan.h) -> for each base
//                  chain: compile + load (codegen/chain), reusing the live program when the
//                  chain's inputs print the same; new attach points get a dispatcher attached
//                  with an empty slot (packets pass as if no hook existed). Any failure is the
//                  batch's error and everything prepared is dropped.
//   commit():      one prog-array update per attach point (runtime::Dispatcher::install, atomic
//                  per hook); attach points no chain uses any more are detached.
//   abort():       drops what prepare() loaded and attached.
//
// One RuntimeTables per hook (per daemon): counters, quotas and limit buckets live in shared maps
// indexed by stable slots, so they survive reloads. Links attach in the calling thread's network
// namespace (the daemon's).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "codegen/abi/counter.h"
#include "codegen/chain/compile.h"
#include "codegen/chain/load.h"
#include "codegen/kernel/kernel.h"
#include "codegen/runtime/dispatcher.h"
#include "nfnl-server/nftables/commit_hook.h"
#include "nfnl-server/offload/log_events.h"
#include "nfnl-server/offload/attach_plan.h"
#include "nfnl-server/offload/element_expiry.h"
#include "nfnl-server/offload/set_contents.h"
#include "nfnl-server/offload/conntrack_anchor.h"
#include "nfnl-server/offload/status.h"

namespace nfbpf::offload {

// Persistence (nfbpfd --bpffs / --state-dir, docs/offload.md "Persistence"). Empty: off.
struct PersistOptions {
  std::string bpffs;      // programs, set maps, state maps and dispatcher links pinned here
  std::string state_dir;  // the committed ruleset (ruleset.bin) and what is pinned (offload.json)
};

class OffloadHook final : public nftables::CommitHook {
 public:
  explicit OffloadHook(std::unique_ptr<codegen::kernel::Kernel> kernel,
                       DeviceResolver devices = resolve_device_in_current_netns, PersistOptions persist = {});

  // At start-up, before any batch: adopts what an earlier daemon left pinned (offload.json in the
  // state directory names it: state maps with their counts, programs, set maps, attached
  // dispatchers) and returns the batch that recreates its ruleset (ruleset_snapshot.h), to be run
  // through the protocol; replaying it reuses the adopted programs (same ids). nullopt: nothing
  // saved. Pins that are gone are not an error: those programs are compiled again.
  Result<std::optional<std::vector<uint8_t>>> adopt();
  // `nfbpfd --flush-on-exit`: unpins everything and deletes the saved state, so the programs
  // detach when this hook is destroyed. Without it a daemon with --bpffs leaves them running.
  void forget_persistent_state();
  // A clean stop that leaves the pinned programs filtering (the default with --bpffs).
  void leave_running_on_exit();
  // `nfbpfd --counter-slots N`: the size of the per-CPU counter map shared by every program
  // (default codegen::chain::kCounterSlots = 65 536, 1 MiB per CPU). A ruleset that needs more
  // counters is refused (ENOSPC, naming the option). Call before adopt() and the first commit.
  void set_counter_slots(uint32_t n) { counter_slots_ = n; }
  ~OffloadHook() override;

  // Hybrid mode (hybrid_hook.h): prepare() lowers only what `lowering` returns (the BPF-placed
  // chains) instead of the whole ruleset, and status() reports `mode`.
  using Lowering = std::function<Result<ir::Ruleset>(const store::Ruleset&)>;
  void set_lowering(Lowering lowering, std::string mode) {
    lowering_ = std::move(lowering);
    mode_ = std::move(mode);
  }

  Result<void> prepare(const store::Ruleset& next) override;
  void commit() override;
  void abort() override;

  // Writes the live BPF counter values into the committed ruleset's `counter` expressions so
  // that dumps print real packets/bytes. Meant to be called by the protocol before each GET
  // (see docs/offload.md: it overrides CommitHook::before_dump once that exists).
  void before_dump(store::Ruleset& cur) override;

  // `nft reset counters` / `nft reset rules`: zeroes the stored values and the BPF slots of the
  // rules and counter objects the reset request dumped.
  void after_reset(store::Ruleset& cur, std::span<const std::vector<uint8_t>> replies) override;

  // The live value of the nth (0-based) `counter` statement of a committed rule, summed over
  // CPUs; nullopt when that rule is not running as BPF (e.g. a chain no base chain reaches).
  std::optional<codegen::abi::Counter> rule_counter(uint8_t nfproto, std::string_view table,
                                                    std::string_view chain, uint64_t handle,
                                                    size_t nth) const;

  // Bytes the nth (0-based) `quota` statement of a committed, running rule has consumed.
  std::optional<uint64_t> rule_quota_used(uint8_t nfproto, std::string_view table, std::string_view chain,
                                          uint64_t handle, size_t nth) const;

  // The live value of a named counter object used by a running rule.
  std::optional<codegen::abi::Counter> object_counter(uint8_t nfproto, std::string_view table,
                                                      std::string_view name) const;

  // Every running base chain (program id, size, attach points) and the last refused batch, for
  // `nfbpf status` (status.h).
  OffloadStatus status() const;

  // `nft reset counters` / `nft reset rules`: the BPF slots behind the nth counter of a rule, or
  // behind a named counter object, are set to zero. False when nothing runs it.
  bool reset_rule_counter(uint8_t nfproto, std::string_view table, std::string_view chain, uint64_t handle, size_t nth);
  bool reset_object_counter(uint8_t nfproto, std::string_view table, std::string_view name);
  // A named quota object's consumed bytes / back to zero (`nft reset quota`), from its BPF slot.
  std::optional<uint64_t> object_quota_used(uint8_t nfproto, std::string_view table, std::string_view name) const;
  bool reset_object_quota(uint8_t nfproto, std::string_view table, std::string_view name);

  struct Stats {
    size_t compiled = 0;   // programs compiled and loaded by prepare() (cumulative)
    size_t reused = 0;     // programs reused because their inputs did not change
    size_t attach_points = 0;  // dispatchers attached now
    size_t sets_updated = 0;         // set maps updated in place by commit() (no reload)
    size_t set_entries_written = 0;  // map updates + deletes those took
  };
  // Map entries removed because their element's timeout ran out.
  size_t expired_entries() const { return expiry_.removed(); }
  const Stats& stats() const { return stats_; }

  // Tables that run beside the nft ruleset but do not come from it: iptables-legacy's filter
  // tables (legacy_table_offload.h). Each is planned, attached and ordered like an nft table of
  // its family; `registered` is when its hooks were registered (a register_hooks_now() tick),
  // which orders its base chains against nft chains at the same hook and priority.
  struct ExtraTable {
    ir::Table table;
    uint64_t registered = 0;
  };
  // Runs the committed nft ruleset with `tables` as the complete set of extra tables: prepare,
  // then `before_swap()`, then commit. On error nothing changes (old programs stay) and the
  // error names what could not run (EOPNOTSUPP as for a refused batch).
  Result<void> replace_extra_tables(std::vector<ExtraTable> tables, const std::function<void()>& before_swap = {});
  // A registration tick (the clock nft base chains get theirs from at commit).
  uint64_t register_hooks_now() { return ++registration_clock_; }

  // The kernel table that keeps conntrack running while committed rules read ct
  // (conntrack_anchor.h); e.g. keep_on_exit() for a daemon that leaves pinned programs running.
  ConntrackAnchor& conntrack_anchor() { return ct_anchor_; }

 private:
  struct Program;
  struct SetUpdate;
  using ProgramPtr = std::shared_ptr<Program>;
  using RuleId = std::tuple<uint8_t, std::string, std::string, uint64_t>;  // nfproto, table, chain, handle
  using CounterIndex = std::map<RuleId, std::vector<codegen::chain::SlotKey>>;

  // A base chain as prepare() planned it (ChainStatus without the program fields) + its program.
  struct PlannedChain {
    ChainStatus info;
    ProgramPtr prog;
  };

  Result<void> prepare_unchecked(const store::Ruleset& next);
  // commit(), with --bpffs / --state-dir: pins new programs and dispatchers, saves the ruleset
  // and offload.json, unpins what no longer runs (persistence.cpp).
  void persist();
  std::string pin_path(const std::string& name) const { return persist_.bpffs + "/" + name; }
  // Fills initial_counters_ for counter objects; returns each rule's counter values in order.
  std::map<RuleId, std::vector<codegen::abi::Counter>> collect_initial_counters(const store::Ruleset& next);
  std::optional<uint32_t> counter_slot(uint8_t nfproto, std::string_view table, std::string_view chain,
                                       uint64_t handle, size_t nth) const;
  // Base chain counters (nft_base_chain.stats) of the chains BPF runs, read from their policy
  // counter slots into the store before a dump.
  void refresh_chain_stats(store::Ruleset& cur) const;
  void reset_rule_quota(uint8_t nfproto, std::string_view table, std::string_view chain, uint64_t handle, size_t nth);
  std::optional<uint32_t> object_slot(uint8_t nfproto, std::string_view table, std::string_view name) const;
  std::optional<uint32_t> object_quota_slot(uint8_t nfproto, std::string_view table, std::string_view name) const;
  Result<codegen::chain::RuntimeTables*> runtime();
  // The program running `chains` (in that order) at one attach point: compiled and loaded, or the
  // live one if its inputs print the same.
  Result<ProgramPtr> program_for(const std::vector<codegen::chain::HookChain>& chains, codegen::flavor::Flavor f,
                                 const std::map<std::string, ProgramPtr>& live_by_key);
  void release_unused_slots();
  // commit(): the queued element changes into the set maps, then the expiry schedule.
  void apply_set_updates();

  Lowering lowering_;             // empty: the whole ruleset (strict)
  std::string mode_ = "strict";  // status()'s mode

  // Declared first: every map, program and link below refers to it.
  std::unique_ptr<codegen::kernel::Kernel> kernel_;
  DeviceResolver devices_;
  PersistOptions persist_;
  uint32_t counter_slots_ = codegen::chain::kCounterSlots;
  const store::Ruleset* next_rs_ = nullptr;  // prepare()'s ruleset (the store's; committed by commit())
  std::set<std::string> pinned_;             // pin names under persist_.bpffs made or adopted
  std::optional<codegen::chain::RuntimeTables> rt_;
  // Reads the log statements' ring buffer into the daemon's log (started with the first program
  // that logs; declared after rt_, so it stops before the ring's map is closed).
  std::unique_ptr<LogEvents> log_events_;
  // Before the links: destroyed after they detach, so no program runs without conntrack.
  ConntrackAnchor ct_anchor_;

  std::map<AttachKey, codegen::runtime::Dispatcher> dispatchers_;  // attached
  std::map<AttachKey, ProgramPtr> live_;                            // installed
  CounterIndex live_counters_;
  CounterIndex live_quotas_;  // quota statements' slot keys, by rule, in order
  // When each running base chain's hook was registered (orders chains sharing an attach point).
  using ChainIdent = std::tuple<uint8_t, std::string, uint64_t, std::string, uint64_t>;  // nfproto, table, handle, chain, handle
  std::map<ChainIdent, uint64_t> registered_;
  uint64_t registration_clock_ = 0;
  std::vector<PlannedChain> live_chains_;
  std::optional<Refusal> last_refused_;
  // The nf_tables store's ruleset as last committed (the protocol owns it and outlives this hook):
  // replace_extra_tables() runs it again beside the new extra tables.
  const store::Ruleset* committed_rs_ = nullptr;
  std::vector<ExtraTable> extra_;                       // running
  std::optional<std::vector<ExtraTable>> pending_extra_;  // replace_extra_tables()'s, during prepare()
  std::optional<std::vector<ExtraTable>> next_extra_;     // prepared, taken by commit()

  // Between prepare() and commit()/abort().
  bool prepared_ = false;
  std::map<AttachKey, ProgramPtr> next_;
  std::map<AttachKey, codegen::runtime::Dispatcher> new_dispatchers_;
  CounterIndex next_counters_;
  CounterIndex next_quotas_;
  std::map<ChainIdent, uint64_t> next_registered_;
  std::vector<PlannedChain> next_chains_;
  std::string preparing_;  // "ip t input": the chain prepare() works on (names refusals)
  // Values given in the ruleset (`counter packets 5 bytes 100`, counter objects) by slot key:
  // a slot allocated for one of them starts there, as the kernel's counter does.
  std::map<codegen::chain::SlotKey, codegen::abi::Counter> initial_counters_;
  // Base chains that have counters (NFTA_CHAIN_COUNTERS), by their policy counter's slot key:
  // their programs count the packets that reach the policy, as nft_update_chain_stats() does.
  std::set<codegen::chain::SlotKey> next_policy_stats_;
  // Chain updates that replace the counters of a chain whose slot is live, and replaced rules'
  // counters (their slot keys do not change with them): written at commit.
  std::map<codegen::chain::SlotKey, codegen::abi::Counter> next_stats_writes_;
  std::set<codegen::chain::SlotKey> next_quota_writes_;  // replaced rules' quotas: back to zero
  std::set<RuleId> replaced_;                            // rules an NLM_F_REPLACE replaces in this batch
  ElementDeadlines deadlines_;               // of the proposed ruleset's elements
  std::vector<SetUpdate> next_set_updates_;  // element changes of reused programs' sets

  Stats stats_;
  ElementExpiry expiry_;  // holds its own map fds; its thread stops first (declared last)
};

}  // namespace nfbpf::offload
