#include "nfnl-server/nftables/txn.h"

#include <linux/netfilter/nf_tables.h>

#include <algorithm>

namespace nfbpf::nftables {
namespace {

void unindex_rule(store::Chain& c, std::list<store::Rule>::iterator r) {
  auto [b, e] = c.rule_by_handle.equal_range(r->handle);
  for (auto it = b; it != e; ++it)
    if (it->second == r) {
      c.rule_by_handle.erase(it);
      break;
    }
}

void erase_rule(store::Chain& c, std::list<store::Rule>::iterator r) {
  unindex_rule(c, r);
  c.rules.erase(r);
}

void erase_chain(store::Table& t, store::Chain* c) {
  auto [b, e] = t.chain_by_name.equal_range(c->name);
  for (auto it = b; it != e; ++it)
    if (it->second == c) {
      t.chain_by_name.erase(it);
      break;
    }
  t.chains.remove_if([c](const auto& p) { return p.get() == c; });
}

void erase_set(store::Table& t, store::Set* s) {
  t.sets.remove_if([s](const auto& p) { return p.get() == s; });
}

void erase_object(store::Table& t, store::Object* o) {
  t.objects.remove_if([o](const auto& p) { return p.get() == o; });
}

void erase_table(store::Ruleset& rs, store::Table* t) {
  rs.tables.remove_if([t](const auto& p) { return p.get() == t; });
}

}  // namespace

namespace {

// Rewrites `name` in every verdict nest ({CODE jump/goto, CHAIN name}) of an attribute tree.
void rename_verdicts(std::vector<store::ExprAttr>& attrs, const std::string& from,
                     const std::string& to) {
  for (auto& a : attrs) {
    if (!a.nest) continue;
    const store::ExprAttr* code = a.find(NFTA_VERDICT_CODE);
    store::ExprAttr* chain = nullptr;
    for (auto& c : a.children)
      if (c.type == NFTA_VERDICT_CHAIN && !c.nest) chain = &c;
    if (code && chain && !code->nest && code->payload.size() == 4 && chain->str() == from) {
      const int32_t v = int32_t(code->be32());
      if (v == NFT_JUMP || v == NFT_GOTO) {
        chain->payload.assign(to.begin(), to.end());
        chain->payload.push_back(0);
        continue;
      }
    }
    rename_verdicts(a.children, from, to);
  }
}

}  // namespace

void rename_chain(store::Table& t, store::Chain& c, const std::string& name) {
  const std::string old = c.name;
  auto [b, e] = t.chain_by_name.equal_range(old);
  for (auto it = b; it != e; ++it)
    if (it->second == &c) {
      t.chain_by_name.erase(it);
      break;
    }
  c.name = name;
  t.chain_by_name.emplace(name, &c);
  auto targets = [&](const std::vector<store::Chain*>& v) {
    return std::find(v.begin(), v.end(), &c) != v.end();
  };
  for (auto& ch : t.chains)
    for (auto& r : ch->rules)
      if (targets(r.jump_targets))
        for (auto& x : r.exprs) rename_verdicts(x.data, old, name);
  for (auto& s : t.sets)
    for (auto& el : s->elems)
      if (targets(el.jump_targets) && el.data && el.data->chain == old) el.data->chain = name;
}

const std::string* pending_chain_name(const Txn& txn, const store::Table* t,
                                      std::string_view name) {
  for (const Op& op : txn.ops())
    if (op.kind == OpKind::kUpdChain && op.table == t && op.chain_name && *op.chain_name == name)
      return &*op.chain_name;
  return nullptr;
}

void set_elem_refs(store::Set& s, int delta) {
  for (auto& e : s.elems)
    if (e.vis.next)
    {
      for (store::Chain* j : e.jump_targets) j->use += uint32_t(delta);
      if (e.obj) e.obj->use += uint32_t(delta);
    }
}

void release_rule_refs(store::Rule& r) {
  for (store::Chain* c : r.jump_targets) c->use--;
  for (store::Set* s : r.set_refs) s->use--;
  for (store::Object* o : r.obj_refs) o->use--;
}

void acquire_rule_refs(store::Rule& r) {
  for (store::Chain* c : r.jump_targets) c->use++;
  for (store::Set* s : r.set_refs) s->use++;
  for (store::Object* o : r.obj_refs) o->use++;
}

void stage_delete_rule(Txn& txn, const OpOrigin& o, store::Table* t, store::Chain* c,
                       std::list<store::Rule>::iterator r) {
  r->vis.next = false;
  release_rule_refs(*r);
  c->use--;
  Op op{OpKind::kDelRule, o};
  op.table = t;
  op.chain = c;
  op.rule = r;
  txn.add(op);
  // Anonymous sets bound to the rule go with it: the kernel deactivates the binding and, at
  // commit, announces DELSET right after the DELRULE. Deactivating the set deactivates its
  // elements too (nft_map_deactivate()), which drops the chain and object uses their verdicts
  // and object references hold: `iif vmap { "lo" : jump c }` stops keeping c busy.
  for (store::Set* s : r->set_refs)
    if (s->anonymous() && s->vis.next && s->use == 0) {
      s->vis.next = false;
      set_elem_refs(*s, -1);
      Op so{OpKind::kDelSet, o};
      so.table = t;
      so.set = s;
      txn.add(so);
    }
}

store::Chain* Txn::chain_by_id(const store::Table* t, uint32_t id) const {
  for (const Op& op : ops_)
    if (op.kind == OpKind::kNewChain && op.table == t && op.chain->batch_id == id &&
        op.chain->vis.next)
      return op.chain;
  return nullptr;
}

store::Set* Txn::set_by_id(const store::Table* t, uint32_t id) const {
  for (const Op& op : ops_)
    if (op.kind == OpKind::kNewSet && op.table == t && op.set->batch_id == id && op.set->vis.next)
      return op.set;
  return nullptr;
}

store::Rule* Txn::rule_by_id(const store::Chain* c, uint32_t id) const {
  for (const Op& op : ops_)
    if (op.kind == OpKind::kNewRule && op.chain == c && op.batch_id == id && op.rule->vis.next)
      return &*op.rule;
  return nullptr;
}

void Txn::commit(const NotifyFn& notify) {
  // Pass 1: make the staged state current, in op order, notifying as the kernel does.
  for (Op& op : ops_) {
    switch (op.kind) {
      case OpKind::kNewTable: op.table->vis.cur = true; break;
      case OpKind::kUpdTable: break;  // applied when staged
      case OpKind::kDelTable: op.table->vis.cur = false; break;
      case OpKind::kNewChain:
      case OpKind::kUpdChain:
        op.chain->vis.cur = true;
        if (op.chain_policy && op.chain->hook) op.chain->hook->policy = *op.chain_policy;
        // nft_chain_stats_replace(): new counters replace the old ones at commit.
        if (op.chain_stats && op.chain->hook) op.chain->hook->stats = op.chain_stats;
        if (op.chain->hook) op.chain->hook->stats_pending.reset();
        // nft_chain_commit_update(): the new name takes effect at commit, before the
        // NEWCHAIN notification that announces it.
        if (op.chain_name) rename_chain(*op.table, *op.chain, *op.chain_name);
        break;
      case OpKind::kDelChain: op.chain->vis.cur = false; break;
      case OpKind::kNewRule: op.rule->vis.cur = true; break;
      case OpKind::kDelRule: op.rule->vis.cur = false; break;
      case OpKind::kNewSet: op.set->vis.cur = true; break;
      case OpKind::kDelSet: op.set->vis.cur = false; break;
      case OpKind::kNewElem: op.elem->vis.cur = true; break;
      case OpKind::kUpdElem: break;  // applied when staged
      case OpKind::kDelElem: op.elem->vis.cur = false; break;
      case OpKind::kNewObj: op.obj->vis.cur = true; break;
      case OpKind::kUpdObj: op.obj->data = op.obj_data; break;
      case OpKind::kDelObj: op.obj->vis.cur = false; break;
      case OpKind::kCount: break;
    }
    if (notify) notify(op);
    // As in the kernel, a deleted rule leaves the chain's list when its op commits, so later
    // NEWRULE notifications see the list without it.
    if (op.kind == OpKind::kDelRule) erase_rule(*op.chain, op.rule);
  }
  // Pass 2: free what is visible in neither generation. Forward order: contents are always
  // deleted by earlier ops than their container.
  for (Op& op : ops_) {
    switch (op.kind) {
      case OpKind::kDelElem: op.set->elems.erase(op.elem); break;
      case OpKind::kDelChain: erase_chain(*op.table, op.chain); break;
      case OpKind::kDelSet: erase_set(*op.table, op.set); break;
      case OpKind::kDelObj: erase_object(*op.table, op.obj); break;
      case OpKind::kDelTable: erase_table(rs_, op.table); break;
      default: break;
    }
  }
  ops_.clear();
}

void Txn::abort() {
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    Op& op = *it;
    switch (op.kind) {
      case OpKind::kNewTable: erase_table(rs_, op.table); break;
      case OpKind::kUpdTable:
        op.table->flags = op.old_table_flags;
        op.table->owner = op.old_table_owner;
        break;
      case OpKind::kDelTable: op.table->vis.next = true; break;
      case OpKind::kNewChain: op.table->use--; erase_chain(*op.table, op.chain); break;
      case OpKind::kUpdChain:
        if (op.chain->hook) op.chain->hook->policy_next = op.chain->hook->policy;
        if (op.chain->hook) op.chain->hook->stats_pending.reset();
        if (op.chain->hook && !op.chain_devices.empty())
          op.chain->hook->devices.erase(op.chain->hook->devices.begin(),
                                        op.chain->hook->devices.begin() + long(op.chain_devices.size()));
        break;
      case OpKind::kDelChain: op.chain->vis.next = true; op.table->use++; break;
      case OpKind::kNewRule:
        release_rule_refs(*op.rule);
        op.chain->use--;
        erase_rule(*op.chain, op.rule);
        break;
      case OpKind::kDelRule:
        op.rule->vis.next = true;
        acquire_rule_refs(*op.rule);
        op.chain->use++;
        break;
      case OpKind::kNewSet:
        if (!op.set->anonymous()) op.table->use--;
        erase_set(*op.table, op.set);
        break;
      case OpKind::kDelSet:
        op.set->vis.next = true;
        set_elem_refs(*op.set, +1);
        if (!op.set->anonymous()) op.table->use++;
        break;
      case OpKind::kNewElem:
        for (store::Chain* j : op.elem->jump_targets) j->use--;
        if (op.elem->obj) op.elem->obj->use--;
        op.set->elems.erase(op.elem);
        break;
      case OpKind::kUpdElem:
        op.elem->timeout_ms = op.old_timeout_ms;
        op.elem->expires_at_ms = op.old_expires_at_ms;
        break;
      case OpKind::kDelElem:
        op.elem->vis.next = true;
        for (store::Chain* j : op.elem->jump_targets) j->use++;
        if (op.elem->obj) op.elem->obj->use++;
        break;
      case OpKind::kNewObj: op.table->use--; erase_object(*op.table, op.obj); break;
      case OpKind::kUpdObj: break;
      case OpKind::kDelObj: op.obj->vis.next = true; op.table->use++; break;
      case OpKind::kCount: break;
    }
  }
  ops_.clear();
  tables_to_validate.clear();
}

}  // namespace nfbpf::nftables
