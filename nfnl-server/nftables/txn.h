#pragma once
// A transaction: the ordered list of operations one batch stages on the ruleset, following the
// kernel's commit_list. Staging changes only visibility flags and use counts; commit() makes the
// staged state current (and frees deleted objects), abort() undoes every op in reverse order.

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "nfnl-server/store/ruleset.h"

namespace nfbpf::nftables {

enum class OpKind : uint8_t {
  kNewTable, kUpdTable, kDelTable,
  kNewChain, kUpdChain, kDelChain,
  kNewRule, kDelRule,
  kNewSet, kDelSet,
  kNewElem, kUpdElem, kDelElem,
  kNewObj, kUpdObj, kDelObj,
  kCount
};

// Where an op came from: notifications and echoes carry the request's port id and seq.
struct OpOrigin {
  uint32_t portid = 0;
  uint32_t seq = 0;
  uint16_t nlflags = 0;
  uint8_t family = 0;
};

struct Op {
  OpKind kind;
  OpOrigin origin;
  store::Table* table = nullptr;
  store::Chain* chain = nullptr;
  std::list<store::Rule>::iterator rule{};
  store::Set* set = nullptr;
  std::list<store::SetElem>::iterator elem{};
  store::Object* obj = nullptr;
  std::vector<store::ExprAttr> obj_data;  // kUpdObj: data to apply at commit
  uint32_t batch_id = 0;                 // NFTA_RULE_ID / NFTA_SET_ID / NFTA_CHAIN_ID
  // kUpdTable: the table's flags and owner before the update (applied when staged, as the
  // kernel does, so later messages and prepare() see them; abort puts these back), and whether
  // dormancy changed (__NFT_TABLE_F_UPDATE: only then is NEWTABLE announced).
  uint32_t old_table_flags = 0, old_table_owner = 0;
  bool dormancy_changed = false;
  std::optional<uint32_t> chain_policy;  // kNewChain/kUpdChain: policy to apply at commit
  std::optional<std::string> chain_name;  // kUpdChain: rename to apply at commit
  std::vector<std::string> chain_devices;  // kUpdChain: netdev devices it added (at the front)
  std::optional<store::BaseHook::Stats> chain_stats;  // kUpdChain: counters to apply at commit
  // kUpdElem: the element's timeout and deadline before the update (applied when staged, so
  // prepare() sees them; abort puts these back).
  std::optional<uint64_t> old_timeout_ms, old_expires_at_ms;
  std::optional<store::Rule*> prev_rule; // kNewRule: rule before it at insert (for POSITION)
};

// Called for each committed op, in order, to produce notifications.
using NotifyFn = std::function<void(const Op&)>;

class Txn {
 public:
  explicit Txn(store::Ruleset& rs) : rs_(rs) {}
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  store::Ruleset& ruleset() { return rs_; }
  bool empty() const { return ops_.empty(); }
  const std::vector<Op>& ops() const { return ops_; }
  void add(Op op) { ops_.push_back(std::move(op)); }

  // Batch-id lookups (NFTA_*_ID): only objects created by this transaction.
  store::Chain* chain_by_id(const store::Table* t, uint32_t id) const;
  store::Set* set_by_id(const store::Table* t, uint32_t id) const;
  store::Rule* rule_by_id(const store::Chain* c, uint32_t id) const;

  // Jump validation follows the kernel's validate_state: the first pass only records which
  // tables need it and validates them once before commit; if that fails, the kernel answers
  // -EAGAIN and replays the whole batch (so every handle is allocated twice) with per-rule
  // validation, which attaches the error to the offending NEWRULE.
  bool validate_each_rule = false;
  std::vector<store::Table*> tables_to_validate;

  void commit(const NotifyFn& notify);
  void abort();

 private:
  store::Ruleset& rs_;
  std::vector<Op> ops_;
};

// Staging helpers shared by handlers (they keep use counts and references consistent).
void stage_delete_rule(Txn& txn, const OpOrigin& o, store::Table* t, store::Chain* c,
                       std::list<store::Rule>::iterator r);
// Drops references a rule holds (jump targets, bound sets); used for delete and abort of new.
void release_rule_refs(store::Rule& r);
void acquire_rule_refs(store::Rule& r);
// Adds delta to the use of every chain a set's live elements jump to (set delete / its abort).
void set_elem_refs(store::Set& s, int delta);
// A rename of a chain of t to `name` already staged in this transaction (NEWCHAIN with a handle
// and a new name), if any.
const std::string* pending_chain_name(const Txn& txn, const store::Table* t, std::string_view name);
// Renames a chain and every verdict that names it (jumps and gotos in rules and in verdict map
// elements are stored by name; the kernel dumps them from the chain itself).
void rename_chain(store::Table& t, store::Chain& c, const std::string& name);

}  // namespace nfbpf::nftables
