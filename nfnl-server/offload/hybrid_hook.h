#pragma once
// `nfbpfd --offload=hybrid`: what BPF can run runs as BPF (OffloadHook), the rest stays in the
// kernel's own nf_tables (KernelTables), and the user sees one ruleset (the store's).
//
//   prepare(next): placement (placement.h) from the store and the translator (a base chain the
//                  kernel already holds stays there while it exists: its registration lives
//                  there, and with it its order at its tie), then the kernel's
//                  order at each hook (hook_order.h: a BPF-able chain created after a kernel
//                  chain at its hook and priority joins the kernel); the BPF side is
//                  prepared (compiled, verified, dispatchers attached with empty slots) for the
//                  BPF-placed chains only. A base chain whose program codegen, the verifier or
//                  the attach refuses is moved to the kernel and the BPF side prepared again.
//                  Then the kernel batch commits (the kernel's errno/message refuse the whole
//                  transaction: the BPF side is dropped, nothing changed on either side).
//   commit():      the BPF programs are installed (prog-array swaps that do not fail).
//   abort():       the BPF side is dropped; a kernel batch already committed is rolled back.
//
// Listings: counters of kernel-placed rules are read from the kernel before each dump that lists
// them (a regular chain on both sides shows the sum), and `nft reset` resets them there too.

#include <map>
#include <memory>
#include <string>

#include "nfnl-server/nftables/commit_hook.h"
#include "nfnl-server/offload/kernel_tables.h"
#include "nfnl-server/offload/offload_hook.h"
#include "nfnl-server/offload/placement.h"

namespace nfbpf::offload {

// The placement facts of one stored table (rules lowered one by one to find what BPF cannot run).
TableFacts table_facts(const store::Table& t);

class HybridHook final : public nftables::CommitHook {
 public:
  explicit HybridHook(std::unique_ptr<OffloadHook> bpf);

  Result<void> prepare(const store::Ruleset& next) override;
  void commit() override;
  void abort() override;
  void before_dump(store::Ruleset& cur) override;
  // Reads from the kernel only what the request lists: rules' counters and quotas for GETRULE,
  // base chain counters for GETCHAIN, counter objects for GETOBJ (of its family and table).
  void before_dump(store::Ruleset& cur, const nftables::DumpScope& scope) override;
  void after_reset(store::Ruleset& cur, std::span<const std::vector<uint8_t>> replies) override;

  OffloadStatus status() const;
  OffloadHook& bpf() { return *bpf_; }
  const KernelTables& kernel() const { return kernel_; }
  // Persistence (--state-dir, docs/offload.md "Hybrid mode: persistence"): the kernel tables
  // outlive the daemon and are adopted by the next one (KernelTables::set_persistence).
  void persist_kernel_tables(std::string state_file) { kernel_.set_persistence(std::move(state_file)); }
  // `--flush-on-exit`: the kernel tables go too.
  void remove_kernel_tables() { kernel_.remove_all(); }
  const std::map<TableKey, TablePlacement>& placement() const { return placement_; }

 private:
  // OffloadHook's lowering: places every table of `next` (into next_placement_) and returns the
  // BPF-placed chains as IR.
  Result<ir::Ruleset> lower_bpf_part(const store::Ruleset& next);

  std::unique_ptr<OffloadHook> bpf_;
  KernelTables kernel_;
  std::map<TableKey, TablePlacement> placement_;       // committed
  std::map<TableKey, TablePlacement> next_placement_;  // prepare()'s
  std::map<TableKey, std::string> family_names_;        // for status
  // Kernel-placed base chains by name, committed and prepare()'s: such a chain stays in the kernel
  // while the same chain (store::Chain::created) exists; it moves to BPF when created again.
  struct KernelBase {
    uint64_t created = 0;
    std::string why;    // why it first went to the kernel
    std::string where;  // "ip k input"
    uint32_t hooknum = 0;
    int32_t priority = 0;
  };
  std::map<TableKey, std::map<std::string, KernelBase>> kernel_base_;
  std::map<TableKey, std::map<std::string, KernelBase>> next_kernel_base_;
  // Within one prepare(): base chains moved to the kernel after BPF refused them or to keep the
  // kernel's order at their hook (hook_order.h), and tables the translator refused as a whole (a
  // set it cannot lower), with why.
  std::map<TableKey, std::map<std::string, std::string>> forced_;
  std::map<TableKey, std::string> table_refusals_;
};

}  // namespace nfbpf::offload
