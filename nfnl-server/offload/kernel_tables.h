#pragma once
// Hybrid mode's kernel side: the chains placed in the kernel (placement.h) run in the kernel's
// own nf_tables, in the daemon's network namespace, programmed through KernelNftClient.
//
// For each user table with kernel-placed chains the kernel holds a table of the same family and
// name (so the kernel's own checks and behaviour apply as they would without nfbpf) with:
//   the kernel-placed base chains (same hook, priority, policy), the regular chains they reach,
//   their rules as the client sent them (the store keeps the attributes; re-encoded by libnftnl),
//   and the sets, elements and named objects those rules use.
// The table carries NFT_TABLE_F_OWNER: only the daemon's socket may change it, and it goes away
// with the daemon (as non-pinned BPF programs do) — unless persistence is on (--state-dir):
// then it also carries NFT_TABLE_F_PERSIST, so when the daemon stops or crashes the kernel keeps
// it (orphaned: the owner flag cleared) and it goes on filtering; what each table holds is saved
// (a digest of its messages and which nfbpfd rule is which kernel rule), and the next daemon's
// first apply() adopts the orphan (NEWTABLE with the owner flag takes it over): left untouched
// when its digest equals what placement wants (packets and counters undisturbed), else replaced
// with the orphan's counters carried over.
//
// Updates are one kernel batch each (one transaction: packets see the old or the new table, never
// a mix). A table whose kernel part differs from what the kernel holds only by rules added to or
// deleted from its chains or replaced by handle (same chains, hooks, policies, sets, objects; the
// other rules kept identical and in the same order) and by elements added to or deleted from its
// sets is updated in place: DELSETELEM (DESTROYSETELEM for elements with a timeout, which the
// kernel may have expired)/NEWSETELEM, DELRULE by the kernel's handle, NEWRULE placed after the
// kernel handle of its nearest kept predecessor (or at the chain's head), NEWRULE with
// NLM_F_REPLACE and the kernel's handle for a replaced rule, so the kernel's order is nfbpfd's
// and every other rule keeps its counters, quotas, limit buckets and the table its set elements'
// timeouts. Anything else (chains, policies, set definitions, objects, base chain counters
// replaced) replaces the table whole:
// DESTROYTABLE + re-add, with the counters each rule and counter object had carried over (sent
// as the counter's initial values; a rule keeps its position inside its chain on both sides,
// which is how nfbpfd rules map to kernel rules). Tables whose kernel part did not change are not
// touched.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "codegen/abi/counter.h"
#include "common/result.h"
#include "nfnl-server/offload/kernel_nft_client.h"
#include "nfnl-server/offload/placement.h"
#include "nfnl-server/store/ruleset.h"

namespace nfbpf::offload {

using TableKey = std::pair<uint8_t, std::string>;  // nfproto, table name

class KernelTables {
 public:
  // Makes the kernel hold exactly the kernel-placed chains of `next` (tables absent from
  // `placement`, or with no kernel chain, are removed from the kernel). Commits in the kernel;
  // rollback() undoes it. The kernel's error (errno + what it refused) is returned as is.
  Result<void> apply(const store::Ruleset& next, const std::map<TableKey, TablePlacement>& placement);
  void commit();
  // After a successful apply() that must not stand: the committed contents again.
  void rollback();

  // What refresh() reads: each part is one kernel dump per table.
  enum Part : unsigned { kRules = 1, kChains = 2, kObjects = 4, kAll = 7 };
  // Reads the live values of `parts` (rules' counters and quotas, base chains' counters, counter
  // objects) of the tables of `family` (NFPROTO_UNSPEC: all) named `table` (all when unset),
  // before a listing; the other values read as unknown until the next refresh.
  void refresh(unsigned parts = kAll, uint8_t family = 0, const std::optional<std::string>& table = {});
  // The values refresh() read for the nth counter of an nfbpfd rule / a counter object.
  std::optional<codegen::abi::Counter> rule_counter(uint8_t nfproto, std::string_view table, std::string_view chain,
                                                    uint64_t handle, size_t nth) const;
  std::optional<codegen::abi::Counter> object_counter(uint8_t nfproto, std::string_view table,
                                                      std::string_view name) const;
  // The consumed bytes refresh() read for the nth quota of an nfbpfd rule (as dumped: capped).
  std::optional<uint64_t> rule_quota_used(uint8_t nfproto, std::string_view table, std::string_view chain,
                                          uint64_t handle, size_t nth) const;
  // The counters refresh() read for a kernel-held base chain that has them (NFTA_CHAIN_COUNTERS).
  std::optional<codegen::abi::Counter> chain_counters(uint8_t nfproto, std::string_view table, std::string_view chain) const;
  // `nft reset rules/counters` on a kernel-held rule or counter object (false: not held here).
  bool reset_rule(uint8_t nfproto, const std::string& table, const std::string& chain, uint64_t handle);
  bool reset_object(uint8_t nfproto, const std::string& table, const std::string& name);

  // Persistence: tables get NFT_TABLE_F_PERSIST; what commit() leaves is saved in `state_file`,
  // and the orphans an earlier daemon saved there are adopted by the first apply(). Call before it.
  void set_persistence(std::string state_file);
  // `--flush-on-exit`: removes every table this daemon holds and the saved file.
  void remove_all();

  bool holds(uint8_t nfproto, const std::string& table) const { return committed_.contains({nfproto, table}); }
  size_t batches_sent() const { return batches_; }

  // What the kernel holds of one table. Its messages, in the order that creates it: `msgs`
  // (table, chains, objects, sets, elements), then per chain of `chain_order` the NEWRULE of each
  // rule in `rules` order.
  struct Held {
    std::string fingerprint;                              // all messages without counter values
    std::vector<KernelMsg> msgs;                          // everything but the rules (rollback)
    std::string head_shape;                               // `msgs` without counter values
    std::vector<std::string> chain_order;                 // chains in creation order
    std::map<std::string, std::vector<uint64_t>> rules;   // chain -> nfbpfd rule handles, in order
    std::map<uint64_t, KernelMsg> rule_msgs;              // nfbpfd handle -> its NEWRULE (append)
    std::map<uint64_t, std::string> rule_shapes;          // nfbpfd handle -> NEWRULE without values
    // Per set (by name): its elements by identity (key, key end, flags), each with its one-element
    // NEWSETELEM (expiration dropped) — compared, added or deleted one by one in place.
    struct Elem {
      std::string shape;  // the NEWSETELEM's bytes
      KernelMsg add;
      bool timeout = false;  // has a timeout: the kernel may have expired it (DESTROYSETELEM then)
    };
    std::map<std::string, std::map<std::string, Elem>> elems;
    // nfbpfd handle -> the kernel's, from the echo of the batch that added the rule (or a dump);
    // complete when kernel_handles_known.
    std::map<uint64_t, uint64_t> kernel_handle;
    bool kernel_handles_known = false;
  };

 private:
  // What the kernel table holds now: per nfbpfd rule its counters and kernel handle.
  struct Live {
    std::map<uint64_t, std::vector<codegen::abi::Counter>> counters;  // by nfbpfd handle
    std::map<uint64_t, uint64_t> kernel_handle;                       // nfbpfd handle -> kernel's
    std::map<std::string, codegen::abi::Counter> objects;             // counter objects by name
    std::map<std::string, codegen::abi::Counter> chains;              // base chain counters by chain
    std::map<uint64_t, std::vector<uint64_t>> quotas;                 // quota consumed bytes, by nfbpfd handle
    std::map<std::string, size_t> rules_per_chain;                    // every kernel rule counted
  };
  void save() const;
  Result<Live> read(const TableKey& key, const Held& held, unsigned parts = kAll);
  // The in-place update from `from` (what the kernel holds) to `to` (built without counter
  // values) when only rules were added/deleted: its messages appended to `batch`, and for each
  // NEWRULE the table and nfbpfd handle it adds in `added` (same index as in `batch`). `to` then
  // holds what the kernel will hold (values as sent; kernel handles of the kept rules). False: not such a
  // change (or the kernel's handles cannot be read): replace the table whole.
  using Added = std::vector<std::optional<std::pair<TableKey, uint64_t>>>;
  bool incremental(const TableKey& key, const store::Table& t, Held& from, Held& to, const std::set<uint64_t>& replaced,
                   std::vector<KernelMsg>& batch,
                   Added& added);

  KernelNftClient client_;
  std::map<TableKey, Held> committed_;
  std::map<TableKey, Held> applied_;  // after apply(), until commit()/rollback()
  bool pending_ = false;
  std::map<TableKey, Live> live_;     // refresh()'s
  size_t batches_ = 0;
  std::string state_file_;              // persistence on when not empty
  std::map<TableKey, Held> orphans_;    // saved by an earlier daemon (fingerprint: its digest; no msgs)
};

}  // namespace nfbpf::offload
