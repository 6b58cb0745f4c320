// NEWRULE / DELRULE / DESTROYRULE (nf_tables_newrule, nf_tables_delrule).
#include <linux/netfilter/nf_tables.h>

#include "nfnl-server/nftables/expr_codec.h"
#include "nfnl-server/nftables/expr_hooks.h"
#include "nfnl-server/nftables/handlers.h"
#include "nfnl-server/nftables/validate.h"

namespace nfbpf::nftables {
namespace {

constexpr size_t kMaxExprs = 128;  // NFT_RULE_MAXEXPRS

// __nft_rule_lookup(): by handle, regardless of generation (the kernel walks chain->rules).
std::optional<std::list<store::Rule>::iterator> find_rule(store::Chain* ch, uint64_t handle) {
  auto [b, e] = ch->rule_by_handle.equal_range(handle);
  std::optional<std::list<store::Rule>::iterator> any;
  for (auto it = b; it != e; ++it) {
    if (it->second->vis.next) return it->second;
    any = it->second;
  }
  return any;
}

Result<store::Chain*> rule_chain(BatchCtx& c, store::Table* t, bool destroy) {
  const Request& r = c.req;
  if (r[NFTA_RULE_CHAIN]) {
    store::Chain* ch = t->find_chain(r[NFTA_RULE_CHAIN]->str());
    if (!ch) {
      if (destroy) return static_cast<store::Chain*>(nullptr);
      return fail_at(ENOENT, r[NFTA_RULE_CHAIN]);
    }
    return ch;
  }
  if (r[NFTA_RULE_CHAIN_ID]) {
    store::Chain* ch = c.txn.chain_by_id(t, r[NFTA_RULE_CHAIN_ID]->be32());
    if (!ch) return fail_at(ENOENT, r[NFTA_RULE_CHAIN_ID]);
    return ch;
  }
  return fail(EINVAL, "");
}

}  // namespace

Result<void> new_rule(BatchCtx& c) {
  const Request& r = c.req;
  auto table = lookup_table(c.rs, r[NFTA_RULE_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_RULE_TABLE]);
  store::Table* t = *table;
  NFBPF_TRY_ASSIGN(chp, rule_chain(c, t, false));
  store::Chain* ch = chp;
  if (ch->flags & NFT_CHAIN_BINDING) return fail(EOPNOTSUPP, "");

  std::optional<std::list<store::Rule>::iterator> old;
  uint64_t handle = 0;
  bool replace = false;
  if (r[NFTA_RULE_HANDLE]) {
    handle = r[NFTA_RULE_HANDLE]->be64();
    old = find_rule(ch, handle);
    if (!old) return fail_at(ENOENT, r[NFTA_RULE_HANDLE]);
    if (r.flag(NLM_F_EXCL)) return fail_at(EEXIST, r[NFTA_RULE_HANDLE]);
    if (!r.flag(NLM_F_REPLACE)) return fail(EOPNOTSUPP, "");
    replace = true;
  } else {
    if (!r.flag(NLM_F_CREATE) || r.flag(NLM_F_REPLACE)) return fail(EINVAL, "");
    handle = t->alloc_handle();
    if (r[NFTA_RULE_POSITION]) {
      old = find_rule(ch, r[NFTA_RULE_POSITION]->be64());
      if (!old) return fail_at(ENOENT, r[NFTA_RULE_POSITION]);
    } else if (r[NFTA_RULE_POSITION_ID]) {
      store::Rule* p = c.txn.rule_by_id(ch, r[NFTA_RULE_POSITION_ID]->be32());
      if (!p) return fail_at(ENOENT, r[NFTA_RULE_POSITION_ID]);
      old = find_rule(ch, p->handle);
    }
  }

  store::Rule rule;
  rule.handle = handle;
  ExprContext ectx{t, ch, &c.txn, &rule.jump_targets, &rule.set_refs, &rule.obj_refs, t->family};
  ectx.rule_compat = r[NFTA_RULE_COMPAT];
  if (const Attr* list = r[NFTA_RULE_EXPRESSIONS]) {
    size_t rest = 0;
    auto elems = split_attrs(list->payload, list->offset + NLA_HDRLEN, &rest);
    if (elems.size() > kMaxExprs) return fail(EINVAL, "");
    for (const Attr& el : elems) {
      if (el.type != NFTA_LIST_ELEM) return fail(EINVAL, "");
      auto e = parse_expr(el, ectx);
      if (!e) {
        // nf_tables_newrule() points at the list element whatever failed inside it (its
        // NL_SET_BAD_ATTR overwrites one set deeper, e.g. on a verdict's chain name).
        e.error().bad_attr = el.offset;
        return std::unexpected(std::move(e).error());
      }
      rule.exprs.push_back(std::move(*e));
    }
  }
  if (const Attr* ud = r[NFTA_RULE_USERDATA]; ud && !ud->payload.empty())
    rule.userdata.emplace(ud->payload.begin(), ud->payload.end());

  if (replace && !(*old)->vis.next) return fail(ENOENT, "");
  // Take the references only now that nothing can fail (abort releases them again).
  acquire_rule_refs(rule);
  std::list<store::Rule>::iterator pos;
  if (replace) {
    pos = ch->rules.insert(std::next(*old), std::move(rule));
  } else if (r.flag(NLM_F_APPEND)) {
    pos = ch->rules.insert(old ? std::next(*old) : ch->rules.end(), std::move(rule));
  } else {
    pos = ch->rules.insert(old ? *old : ch->rules.begin(), std::move(rule));
  }
  ch->rule_by_handle.emplace(handle, pos);
  ch->use++;
  // 6.18 stages the old rule's deletion before the replacement (DELRULE is announced first).
  if (replace) stage_delete_rule(c.txn, c.origin, t, ch, *old);
  Op op{OpKind::kNewRule, c.origin};
  op.table = t;
  op.chain = ch;
  op.rule = pos;
  if (r[NFTA_RULE_ID]) op.batch_id = r[NFTA_RULE_ID]->be32();
  c.txn.add(op);
  // Jumps set the table's validate state; the kernel then validates at the end of NEWRULE.
  bool validate = !pos->jump_targets.empty();
  for (const auto& e : pos->exprs) validate = validate || needs_validation(e, *pos);
  for (const store::Set* s : pos->set_refs) validate = validate || s->data_type == NFT_DATA_VERDICT;
  if (validate) {
    if (c.txn.validate_each_rule) NFBPF_TRYV(validate_table(*t));
    else c.txn.tables_to_validate.push_back(t);
  }
  return {};
}

Result<void> del_rule(BatchCtx& c) {
  const Request& r = c.req;
  const bool destroy = r.type == NFT_MSG_DESTROYRULE;
  auto table = lookup_table(c.rs, r[NFTA_RULE_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_RULE_TABLE]);
  store::Table* t = *table;
  if (r[NFTA_RULE_CHAIN]) {
    NFBPF_TRY_ASSIGN(chp, rule_chain(c, t, destroy));
    store::Chain* ch = chp;
    if (!ch) return {};
    if (ch->flags & NFT_CHAIN_BINDING) return fail(EOPNOTSUPP, "");
    if (r[NFTA_RULE_HANDLE]) {
      auto it = find_rule(ch, r[NFTA_RULE_HANDLE]->be64());
      if (!it) {
        if (destroy) return {};
        return fail_at(ENOENT, r[NFTA_RULE_HANDLE]);
      }
      if (!(*it)->vis.next) return fail(ENOENT, "");
      stage_delete_rule(c.txn, c.origin, t, ch, *it);
      return {};
    }
    if (r[NFTA_RULE_ID]) {
      store::Rule* p = c.txn.rule_by_id(ch, r[NFTA_RULE_ID]->be32());
      if (!p) return fail_at(ENOENT, r[NFTA_RULE_ID]);
      stage_delete_rule(c.txn, c.origin, t, ch, *find_rule(ch, p->handle));
      return {};
    }
    for (auto it = ch->rules.begin(); it != ch->rules.end(); ++it)
      if (it->vis.next) stage_delete_rule(c.txn, c.origin, t, ch, it);
    return {};
  }
  for (auto& ch : t->chains) {
    if (!ch->vis.next || (ch->flags & NFT_CHAIN_BINDING)) continue;
    for (auto it = ch->rules.begin(); it != ch->rules.end(); ++it)
      if (it->vis.next) stage_delete_rule(c.txn, c.origin, t, ch.get(), it);
  }
  return {};
}

}  // namespace nfbpf::nftables
