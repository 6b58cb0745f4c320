// NEWSETELEM / DELSETELEM / DESTROYSETELEM (nft_add_set_elem, nft_del_setelem).
#include <linux/netfilter/nf_tables.h>

#include "nfnl-server/nftables/elem_lookup.h"
#include "nfnl-server/nftables/expr_codec.h"
#include "nfnl-server/nftables/elem_index.h"
#include "nfnl-server/nftables/handlers.h"
#include "nfnl-server/nftables/policies.h"

namespace nfbpf::nftables {
namespace {

Result<store::Set*> elem_set(BatchCtx& c, store::Table** table_out) {
  const Request& r = c.req;
  auto table = lookup_table(c.rs, r[NFTA_SET_ELEM_LIST_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_SET_ELEM_LIST_TABLE]);
  store::Table* t = *table;
  *table_out = t;
  store::Set* s = nullptr;
  if (r[NFTA_SET_ELEM_LIST_SET]) s = t->find_set(r[NFTA_SET_ELEM_LIST_SET]->str());
  if (!s && r[NFTA_SET_ELEM_LIST_SET_ID])
    s = c.txn.set_by_id(t, r[NFTA_SET_ELEM_LIST_SET_ID]->be32());
  if (!s) return fail_at(ENOENT, r[NFTA_SET_ELEM_LIST_SET]);
  return s;
}

// A key/key_end value: NFTA_DATA_VALUE of exactly the set's key length.
Result<std::vector<uint8_t>> parse_key(const Attr& a, uint32_t len) {
  NFBPF_TRY_ASSIGN(tb, parse_nested(a, policy::data()));
  if (!tb[NFTA_DATA_VALUE]) return fail(EINVAL, "");
  auto p = tb[NFTA_DATA_VALUE]->payload;
  if (p.size() != len) return fail(EINVAL, "");
  return std::vector<uint8_t>(p.begin(), p.end());
}

size_t live_elems(const store::Set& s) {
  size_t n = 0;
  for (const auto& e : s.elems) n += e.vis.next && !(e.flags & NFT_SET_ELEM_CATCHALL);
  return n;
}

// Whether two expressions have the same kernel ops: the kind, and for limit its type (the
// kernel picks nft_limit_pkts_ops or nft_limit_bytes_ops by NFTA_LIMIT_TYPE).
bool same_ops(const store::Expr& a, const store::Expr& b) {
  if (a.name != b.name) return false;
  if (a.name != "limit") return true;
  const store::ExprAttr* ta = a.find(NFTA_LIMIT_TYPE);
  const store::ExprAttr* tb = b.find(NFTA_LIMIT_TYPE);
  return (ta ? ta->be32() : 0) == (tb ? tb->be32() : 0);
}

// nft_add_set_elem()'s stateful expressions: NFTA_SET_ELEM_EXPR (one) or
// NFTA_SET_ELEM_EXPRESSIONS (up to NFT_SET_EXPR_MAX); given ones must be the set's own kinds in
// the set's order. Without any, an element (but not an interval end) gets a copy of the set's
// expressions (nft_set_elem_expr_clone()): `set s { counter; }` counts per element.
Result<std::vector<store::Expr>> parse_elem_exprs(BatchCtx& c, store::Table* t, store::Set* s,
                                                  const AttrTable& tb, uint32_t elem_flags) {
  std::vector<store::Expr> out;
  ExprContext ectx{t, nullptr, &c.txn, nullptr, nullptr};
  auto kind_fits = [&](size_t i, const store::Expr& x) {
    return s->exprs.empty() || (i < s->exprs.size() && same_ops(s->exprs[i], x));
  };
  if (tb[NFTA_SET_ELEM_EXPR]) {
    NFBPF_TRY_ASSIGN(x, parse_expr(*tb[NFTA_SET_ELEM_EXPR], ectx));
    NFBPF_TRYV(check_set_expr(x, *s));
    if (!kind_fits(0, x)) return fail(EOPNOTSUPP, "");
    out.push_back(std::move(x));
  } else if (tb[NFTA_SET_ELEM_EXPRESSIONS]) {
    size_t rest = 0;
    for (const Attr& el : split_attrs(tb[NFTA_SET_ELEM_EXPRESSIONS]->payload,
                                      tb[NFTA_SET_ELEM_EXPRESSIONS]->offset + NLA_HDRLEN, &rest)) {
      if (out.size() == kSetExprMax) return fail(EOPNOTSUPP, "");
      NFBPF_TRY_ASSIGN(x, parse_expr(el, ectx));
      NFBPF_TRYV(check_set_expr(x, *s));
      if (!kind_fits(out.size(), x)) return fail(EOPNOTSUPP, "");
      out.push_back(std::move(x));
    }
    if (!s->exprs.empty() && out.size() != s->exprs.size()) return fail(EOPNOTSUPP, "");
  } else if (!s->exprs.empty() && !(elem_flags & NFT_SET_ELEM_INTERVAL_END)) {
    out = s->exprs;
  }
  return out;
}

// parse_elem() also reports the NFTA_SET_ELEM_EXPIRATION it was given (0: none), which an
// update of an existing element applies.
Result<store::SetElem> parse_elem(BatchCtx& c, store::Table* t, store::Set* s, const Attr& el,
                                  bool for_delete, uint64_t* expiration_ms = nullptr) {
  NFBPF_TRY_ASSIGN(tb, parse_nested(el, policy::set_elem()));
  store::SetElem e;
  if (tb[NFTA_SET_ELEM_FLAGS]) {
    e.flags = tb[NFTA_SET_ELEM_FLAGS]->be32();
    e.has_flags = true;
    if (e.flags & ~(NFT_SET_ELEM_INTERVAL_END | NFT_SET_ELEM_CATCHALL)) return fail(EOPNOTSUPP, "");
    if ((e.flags & NFT_SET_ELEM_INTERVAL_END) && !(s->flags & NFT_SET_INTERVAL))
      return fail(EINVAL, "");
  }
  if (tb[NFTA_SET_ELEM_KEY]) {
    NFBPF_TRY_ASSIGN(k, parse_key(*tb[NFTA_SET_ELEM_KEY], s->key_len));
    e.key = std::move(k);
  } else if (!(e.flags & NFT_SET_ELEM_CATCHALL)) {
    return fail(EINVAL, "");
  }
  if (tb[NFTA_SET_ELEM_KEY_END]) {
    NFBPF_TRY_ASSIGN(k, parse_key(*tb[NFTA_SET_ELEM_KEY_END], s->key_len));
    e.key_end = std::move(k);
  }
  if (for_delete) return e;
  if (tb[NFTA_SET_ELEM_TIMEOUT]) {
    if (!(s->flags & NFT_SET_TIMEOUT)) return fail(EINVAL, "");
    e.timeout_ms = tb[NFTA_SET_ELEM_TIMEOUT]->be64();
  } else if (s->timeout_ms && *s->timeout_ms && !(e.flags & NFT_SET_ELEM_INTERVAL_END)) {
    e.timeout_ms = *s->timeout_ms;
  }
  if (tb[NFTA_SET_ELEM_EXPIRATION]) {
    // An expiration needs a timeout to count down from and cannot exceed it (verified on
    // 6.18: EOPNOTSUPP without any timeout, ERANGE for `timeout 20m expires 30m`).
    if (!(s->flags & NFT_SET_TIMEOUT)) return fail(EINVAL, "");
    const uint64_t x = tb[NFTA_SET_ELEM_EXPIRATION]->be64();
    if (e.timeout_ms.value_or(0) == 0) return fail(EOPNOTSUPP, "");
    if (x > *e.timeout_ms) return fail(ERANGE, "");
    if (expiration_ms) *expiration_ms = x;
    e.expires_at_ms = store::now_ms() + x;
  } else if (e.timeout_ms) {
    e.expires_at_ms = store::now_ms() + *e.timeout_ms;
  }
  if (tb[NFTA_SET_ELEM_DATA]) {
    if (!(s->flags & NFT_SET_MAP)) return fail(EINVAL, "");
    std::vector<store::Chain*> jumps;
    ExprContext ectx{t, nullptr, &c.txn, &jumps, nullptr};
    NFBPF_TRY_ASSIGN(d, parse_data(*tb[NFTA_SET_ELEM_DATA], ectx));
    store::Data data;
    for (const auto& ch : d.children) {
      if (ch.type == NFTA_DATA_VALUE) {
        if (s->data_type == NFT_DATA_VERDICT || ch.payload.size() != s->data_len)
          return fail(EINVAL, "");
        data.value = ch.payload;
      } else {
        if (s->data_type != NFT_DATA_VERDICT) return fail(EINVAL, "");
        if (auto* code = ch.find(NFTA_VERDICT_CODE)) data.verdict = int32_t(code->be32());
        if (auto* name = ch.find(NFTA_VERDICT_CHAIN)) data.chain = std::string(name->str());
      }
    }
    e.data = std::move(data);
    e.jump_targets = std::move(jumps);
  } else if ((s->flags & NFT_SET_MAP) && !(e.flags & NFT_SET_ELEM_INTERVAL_END)) {
    return fail(EINVAL, "");
  }
  if (tb[NFTA_SET_ELEM_OBJREF]) {
    if (!(s->flags & NFT_SET_OBJECT)) return fail(EINVAL, "");
    e.objref = std::string(tb[NFTA_SET_ELEM_OBJREF]->str());
    e.obj = t->find_object(*e.objref, s->obj_type);
    if (!e.obj) return fail_at(ENOENT, tb[NFTA_SET_ELEM_OBJREF]);
  }
  if (tb[NFTA_SET_ELEM_USERDATA])
    e.userdata.emplace(tb[NFTA_SET_ELEM_USERDATA]->payload.begin(),
                       tb[NFTA_SET_ELEM_USERDATA]->payload.end());
  NFBPF_TRY_ASSIGN(exprs, parse_elem_exprs(c, t, s, tb, e.flags));
  e.exprs = std::move(exprs);
  return e;
}

bool same_data(const std::optional<store::Data>& a, const std::optional<store::Data>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->value == b->value && a->verdict == b->verdict && a->chain == b->chain);
}

bool same_payload(const store::SetElem& have, const store::SetElem& e) {
  return same_data(have.data, e.data) && have.obj == e.obj;
}

bool is_pipapo(const store::Set& s) {
  return s.backend == store::SetBackend::kPipapo || s.backend == store::SetBackend::kPipapoAvx2;
}

// The element of the next generation `e` collides with, as the backend's ->insert() finds it
// (index.end() for none): the same key for hashes and rbtree (looked up in `index`, which holds
// the next generation's elements); for pipapo the element containing e's start (the same
// element only if its range is identical, else an overlap) or e's end. An overlap is EEXIST
// whatever the flags (-ENOTEMPTY, reported as -EEXIST).
Result<ElemIndex::Iter> existing_elem(store::Set& s, const store::SetElem& e, const ElemIndex& index) {
  const uint64_t now = store::now_ms();
  if (!is_pipapo(s) || (e.flags & NFT_SET_ELEM_CATCHALL)) {
    auto it = index.find(e);
    if (it != index.end() && it->expired(now)) return index.end();
    return it;
  }
  // Pipapo ranges overlap rather than collide by key: a scan (intervals sets stay small).
  const std::vector<uint8_t>& end = e.key_end ? *e.key_end : e.key;
  for (auto have = s.elems.begin(); have != s.elems.end(); ++have) {
    if (!have->vis.next || have->expired(now) || (have->flags & NFT_SET_ELEM_CATCHALL)) continue;
    if (!elem_contains(s, *have, e.key)) continue;
    const std::vector<uint8_t>& have_end = have->key_end ? *have->key_end : have->key;
    if (have->key == e.key && have_end == end) return have;
    return fail(EEXIST, "");
  }
  for (auto& have : s.elems)
    if (have.vis.next && !have.expired(now) && !(have.flags & NFT_SET_ELEM_CATCHALL) &&
        elem_contains(s, have, end))
      return fail(EEXIST, "");
  return index.end();
}

// Re-adding an element of a timeout set (6.18): a timeout other than the element's (the
// request's, else the set's default) replaces it and restarts the countdown from it unless an
// expiration is given; a given expiration restarts the countdown from that. Anything changed
// is announced as NEWSETELEM at commit; nothing changed stages nothing (no new generation).
void stage_timeout_update(BatchCtx& c, store::Table* t, store::Set* s, ElemIndex::Iter have,
                          const store::SetElem& e, uint64_t expiration) {
  const uint64_t timeout = e.timeout_ms.value_or(0);
  const bool new_timeout = timeout != have->timeout_ms.value_or(0);
  if (new_timeout && expiration == 0) expiration = timeout;
  if (!new_timeout && expiration == 0) return;
  Op op{OpKind::kUpdElem, c.origin};
  op.table = t;
  op.set = s;
  op.elem = have;
  op.old_timeout_ms = have->timeout_ms;
  op.old_expires_at_ms = have->expires_at_ms;
  if (new_timeout) have->timeout_ms = timeout;
  if (expiration) have->expires_at_ms = store::now_ms() + expiration;
  else if (timeout == 0) have->expires_at_ms.reset();  // timeout 0: the element never expires
  c.txn.add(std::move(op));
}

}  // namespace

Result<void> new_setelem(BatchCtx& c) {
  const Request& r = c.req;
  store::Table* t = nullptr;
  NFBPF_TRY_ASSIGN(sp, elem_set(c, &t));
  store::Set* s = sp;
  if ((s->flags & NFT_SET_CONSTANT) && s->vis.cur) return fail(EBUSY, "");
  const Attr* list = r[NFTA_SET_ELEM_LIST_ELEMENTS];
  if (!list) return fail(EINVAL, "");
  size_t rest = 0;
  // Built once for the message: a scan of the set per element is quadratic in big sets.
  ElemIndex index(*s, [](const store::SetElem& e) { return e.vis.next; });
  size_t live = live_elems(*s);
  for (const Attr& el : split_attrs(list->payload, list->offset + NLA_HDRLEN, &rest)) {
    uint64_t expiration = 0;
    auto e = parse_elem(c, t, s, el, false, &expiration);
    if (!e) return fail_at(e.error().err, &el);
    auto found = existing_elem(*s, *e, index);
    if (!found) return fail_at(found.error().err, &el);
    const ElemIndex::Iter have = *found;
    if (have != index.end()) {
      // nft_add_set_elem() on -EEXIST: different data or object is a clash, NLM_F_EXCL
      // refuses, otherwise it is an update (timeouts only) or nothing at all.
      if (!same_payload(*have, *e) || r.flag(NLM_F_EXCL)) return fail_at(EEXIST, &el);
      if (s->flags & NFT_SET_TIMEOUT) stage_timeout_update(c, t, s, have, *e, expiration);
      continue;
    }
    // set->size is kept in backend units (rbtree stores start and end: twice the user size).
    const size_t cap = s->backend == store::SetBackend::kRbtree ? size_t(s->size) * 2 : s->size;
    if (s->size && !(e->flags & NFT_SET_ELEM_CATCHALL) && live >= cap)
      return fail_at(ENFILE, &el);
    for (store::Chain* j : e->jump_targets) j->use++;
    if (e->obj) e->obj->use++;
    live += !(e->flags & NFT_SET_ELEM_CATCHALL);
    s->elems.push_back(std::move(*e));
    index.add(std::prev(s->elems.end()));
    Op op{OpKind::kNewElem, c.origin};
    op.table = t;
    op.set = s;
    op.elem = std::prev(s->elems.end());
    c.txn.add(op);
  }
  return {};
}

Result<void> del_setelem(BatchCtx& c) {
  const Request& r = c.req;
  store::Table* t = nullptr;
  NFBPF_TRY_ASSIGN(sp, elem_set(c, &t));
  store::Set* s = sp;
  if (s->flags & NFT_SET_CONSTANT) return fail(EBUSY, "");
  const Attr* list = r[NFTA_SET_ELEM_LIST_ELEMENTS];
  if (!list) {
    // Flush the whole set.
    for (auto it = s->elems.begin(); it != s->elems.end(); ++it) {
      if (!it->vis.next) continue;
      it->vis.next = false;
      for (store::Chain* j : it->jump_targets) j->use--;
      if (it->obj) it->obj->use--;
      Op op{OpKind::kDelElem, c.origin};
      op.table = t;
      op.set = s;
      op.elem = it;
      c.txn.add(op);
    }
    return {};
  }
  size_t rest = 0;
  ElemIndex index(*s, [](const store::SetElem& e) { return e.vis.next; });
  for (const Attr& el : split_attrs(list->payload, list->offset + NLA_HDRLEN, &rest)) {
    auto e = parse_elem(c, t, s, el, true);
    if (!e) return fail_at(e.error().err, &el);
    auto it = index.find(*e);
    if (it == index.end()) {
      if (r.type == NFT_MSG_DESTROYSETELEM) continue;
      return fail_at(ENOENT, &el);
    }
    index.remove(*it);
    it->vis.next = false;
    for (store::Chain* j : it->jump_targets) j->use--;
      if (it->obj) it->obj->use--;
    Op op{OpKind::kDelElem, c.origin};
    op.table = t;
    op.set = s;
    op.elem = it;
    c.txn.add(op);
  }
  return {};
}

}  // namespace nfbpf::nftables
