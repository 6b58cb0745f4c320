// NEWSET / DELSET / DESTROYSET (nf_tables_newset, nf_tables_delset).
#include <linux/netfilter/nf_tables.h>

#include <cstdio>
#include <vector>

#include "nfnl-server/nftables/expr_codec.h"
#include "nfnl-server/nftables/handlers.h"
#include "nfnl-server/nftables/policies.h"

namespace nfbpf::nftables {
namespace {

constexpr uint32_t kSetFlags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL |
                               NFT_SET_TIMEOUT | NFT_SET_MAP | NFT_SET_EVAL | NFT_SET_OBJECT |
                               NFT_SET_CONCAT | NFT_SET_EXPR;
constexpr uint32_t kDataValueMaxLen = 64;  // NFT_DATA_VALUE_MAXLEN

// nf_tables_set_alloc_name(): "__set%d" takes the lowest number unused in the table.
Result<std::string> alloc_name(const store::Table& t, std::string_view pattern) {
  auto pct = pattern.find('%');
  if (pct == std::string_view::npos) return std::string(pattern);
  if (pattern.substr(pct, 2) != "%d" || pattern.find('%', pct + 1) != std::string_view::npos)
    return fail(EINVAL, "");
  std::string prefix(pattern.substr(0, pct));
  std::vector<bool> used;
  for (const auto& s : t.sets) {
    if (!s->vis.next || s->name.compare(0, prefix.size(), prefix) != 0) continue;
    unsigned n = 0;
    if (std::sscanf(s->name.c_str() + prefix.size(), "%u", &n) != 1) continue;
    if (n >= used.size()) used.resize(n + 1);
    used[n] = true;
  }
  size_t n = 0;
  while (n < used.size() && used[n]) n++;
  return prefix + std::to_string(n) + std::string(pattern.substr(pct + 2));
}

// nft_select_set_ops(): the cheapest candidate backend by (lookup, space) class for the
// default performance policy (space first for the memory policy), ties going to the earlier
// entry of nft_set_types[].
Result<store::SetBackend> select_backend(const store::Set& s, bool has_expr) {
  using B = store::SetBackend;
  constexpr uint32_t kFeatures =
      NFT_SET_INTERVAL | NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_OBJECT | NFT_SET_EVAL;
  enum Class { kO1 = 0, kOLogN = 1, kON = 2 };
  struct Cand {
    B backend;
    uint32_t features;
    bool ok;
    Class lookup, space;
  };
  const uint32_t fields = uint32_t(s.field_len.size());
  const bool interval_capable_concat = fields >= 2;
  const Cand cands[] = {
      {B::kHashFast, NFT_SET_MAP | NFT_SET_OBJECT, s.size && s.key_len == 4, kO1, kON},
      {B::kHash, NFT_SET_MAP | NFT_SET_OBJECT, s.size && s.key_len != 4, kO1, kON},
      {B::kRhash, NFT_SET_MAP | NFT_SET_OBJECT | NFT_SET_TIMEOUT | NFT_SET_EVAL, true, kO1, kON},
      {B::kBitmap, 0, s.key_len <= 2 && !has_expr, kO1, kO1},
      {B::kRbtree, NFT_SET_INTERVAL | NFT_SET_MAP | NFT_SET_OBJECT | NFT_SET_TIMEOUT, fields <= 1,
       kOLogN, kON},
      {B::kPipapoAvx2, NFT_SET_INTERVAL | NFT_SET_MAP | NFT_SET_OBJECT | NFT_SET_TIMEOUT,
       (s.flags & NFT_SET_INTERVAL) && interval_capable_concat, kOLogN, kON},
      {B::kPipapo, NFT_SET_INTERVAL | NFT_SET_MAP | NFT_SET_OBJECT | NFT_SET_TIMEOUT,
       (s.flags & NFT_SET_INTERVAL) && interval_capable_concat, kOLogN, kON},
  };
  const Cand* best = nullptr;
  for (const Cand& c : cands) {
    if ((s.flags & c.features) != (s.flags & kFeatures) || !c.ok) continue;
    if (!best) {
      best = &c;
      continue;
    }
    if (s.policy == NFT_SET_POL_MEMORY) {
      if (c.space < best->space || (c.space == best->space && c.lookup < best->lookup)) best = &c;
    } else if (c.lookup < best->lookup ||
               (c.lookup == best->lookup && c.space < best->space)) {
      best = &c;
    }
  }
  if (!best) return fail(EOPNOTSUPP, "");
  return best->backend;
}

}  // namespace

Result<void> new_set(BatchCtx& c) {
  const Request& r = c.req;
  if (!r[NFTA_SET_TABLE] || !r[NFTA_SET_NAME] || !r[NFTA_SET_KEY_LEN] || !r[NFTA_SET_ID])
    return fail(EINVAL, "");
  auto s = std::make_unique<store::Set>();
  s->key_type = r[NFTA_SET_KEY_TYPE] ? r[NFTA_SET_KEY_TYPE]->be32() : 0;
  if ((s->key_type & NFT_DATA_RESERVED_MASK) == NFT_DATA_RESERVED_MASK) return fail(EINVAL, "");
  s->key_len = r[NFTA_SET_KEY_LEN]->be32();
  if (s->key_len == 0 || s->key_len > kDataValueMaxLen) return fail(EINVAL, "");
  uint32_t flags = r[NFTA_SET_FLAGS] ? r[NFTA_SET_FLAGS]->be32() : 0;
  if (flags & ~kSetFlags) return fail(EOPNOTSUPP, "");
  if ((flags & (NFT_SET_MAP | NFT_SET_OBJECT)) == (NFT_SET_MAP | NFT_SET_OBJECT) ||
      (flags & (NFT_SET_EVAL | NFT_SET_OBJECT)) == (NFT_SET_EVAL | NFT_SET_OBJECT) ||
      (flags & (NFT_SET_ANONYMOUS | NFT_SET_TIMEOUT | NFT_SET_EVAL)) ==
          (NFT_SET_ANONYMOUS | NFT_SET_TIMEOUT) ||
      (flags & (NFT_SET_CONSTANT | NFT_SET_TIMEOUT)) == (NFT_SET_CONSTANT | NFT_SET_TIMEOUT))
    return fail(EOPNOTSUPP, "");
  s->flags = flags;
  if (r[NFTA_SET_DATA_TYPE]) {
    if (!(flags & NFT_SET_MAP)) return fail(EINVAL, "");
    s->data_type = r[NFTA_SET_DATA_TYPE]->be32();
    if ((s->data_type & NFT_DATA_RESERVED_MASK) == NFT_DATA_RESERVED_MASK &&
        s->data_type != NFT_DATA_VERDICT)
      return fail(EINVAL, "");
    if (s->data_type != NFT_DATA_VERDICT) {
      if (!r[NFTA_SET_DATA_LEN]) return fail(EINVAL, "");
      s->data_len = r[NFTA_SET_DATA_LEN]->be32();
      if (s->data_len == 0 || s->data_len > kDataValueMaxLen) return fail(EINVAL, "");
    } else {
      s->data_len = 16;  // sizeof(struct nft_verdict)
    }
  } else if (flags & NFT_SET_MAP) {
    return fail(EINVAL, "");
  }
  if (r[NFTA_SET_OBJ_TYPE]) {
    if (!(flags & NFT_SET_OBJECT)) return fail(EINVAL, "");
    s->obj_type = r[NFTA_SET_OBJ_TYPE]->be32();
    if (s->obj_type == NFT_OBJECT_UNSPEC || s->obj_type > NFT_OBJECT_MAX)
      return fail(EOPNOTSUPP, "");
  } else if (flags & NFT_SET_OBJECT) {
    return fail(EINVAL, "");
  }
  if (r[NFTA_SET_TIMEOUT]) {
    if (!(flags & NFT_SET_TIMEOUT)) return fail(EINVAL, "");
    if (flags & NFT_SET_ANONYMOUS) return fail(EOPNOTSUPP, "");
    s->timeout_ms = r[NFTA_SET_TIMEOUT]->be64();
  }
  if (r[NFTA_SET_GC_INTERVAL]) {
    if (!(flags & NFT_SET_TIMEOUT)) return fail(EINVAL, "");
    if (flags & NFT_SET_ANONYMOUS) return fail(EOPNOTSUPP, "");
    s->gc_interval = r[NFTA_SET_GC_INTERVAL]->be32();
  }
  if (r[NFTA_SET_POLICY]) s->policy = r[NFTA_SET_POLICY]->be32();
  if (r[NFTA_SET_DESC]) {
    NFBPF_TRY_ASSIGN(d, parse_nested(*r[NFTA_SET_DESC], policy::set_desc()));
    if (d[NFTA_SET_DESC_SIZE]) s->size = d[NFTA_SET_DESC_SIZE]->be32();
    if (d[NFTA_SET_DESC_CONCAT]) {
      size_t rest = 0;
      for (const Attr& el : split_attrs(d[NFTA_SET_DESC_CONCAT]->payload,
                                        d[NFTA_SET_DESC_CONCAT]->offset + NLA_HDRLEN, &rest)) {
        if (el.type != NFTA_LIST_ELEM) return fail(EINVAL, "");
        size_t r2 = 0;
        auto f = split_attrs(el.payload, el.offset + NLA_HDRLEN, &r2);
        if (f.empty() || f[0].type != NFTA_SET_FIELD_LEN) return fail(EINVAL, "");
        uint32_t len = f[0].be32();
        if (!len || len > 64) return fail(EINVAL, "");
        s->field_len.push_back(len);
      }
      if (s->field_len.size() > 16) return fail(E2BIG, "");
    }
  }

  auto table = lookup_table(c.rs, r[NFTA_SET_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_SET_TABLE]);
  store::Table* t = *table;
  if (store::Set* old = t->find_set(r[NFTA_SET_NAME]->str())) {
    if (r.flag(NLM_F_EXCL)) return fail_at(EEXIST, r[NFTA_SET_NAME]);
    if (r.flag(NLM_F_REPLACE)) return fail(EOPNOTSUPP, "");
    if (old->anonymous()) return fail(EOPNOTSUPP, "");
    if (old->flags != s->flags || old->key_type != s->key_type || old->key_len != s->key_len ||
        old->data_type != s->data_type || old->data_len != s->data_len ||
        old->obj_type != s->obj_type || old->timeout_ms.value_or(0) != s->timeout_ms.value_or(0))
      return fail_at(EEXIST, r[NFTA_SET_NAME]);
    return {};
  }
  if (!r.flag(NLM_F_CREATE)) return fail(ENOENT, "");
  NFBPF_TRY_ASSIGN(backend, select_backend(*s, r[NFTA_SET_EXPR] || r[NFTA_SET_EXPRESSIONS]));
  s->backend = backend;
  NFBPF_TRY_ASSIGN(name, alloc_name(*t, r[NFTA_SET_NAME]->str()));
  s->name = name;
  ExprContext ectx{t, nullptr, &c.txn, nullptr, nullptr};
  // nf_tables_newset(): stateful expressions only (elements get copies of them), at most
  // NFT_SET_EXPR_MAX of them, the list form only with NFT_SET_EXPR.
  if (r[NFTA_SET_EXPR]) {
    NFBPF_TRY_ASSIGN(e, parse_expr(*r[NFTA_SET_EXPR], ectx));
    NFBPF_TRYV(check_set_expr(e, *s));
    s->exprs.push_back(std::move(e));
  } else if (r[NFTA_SET_EXPRESSIONS]) {
    if (!(flags & NFT_SET_EXPR)) return fail(EINVAL, "");
    size_t rest = 0;
    for (const Attr& el : split_attrs(r[NFTA_SET_EXPRESSIONS]->payload,
                                      r[NFTA_SET_EXPRESSIONS]->offset + NLA_HDRLEN, &rest)) {
      if (s->exprs.size() == kSetExprMax) return fail(E2BIG, "");
      if (el.type != NFTA_LIST_ELEM) return fail(EINVAL, "");
      NFBPF_TRY_ASSIGN(e, parse_expr(el, ectx));
      NFBPF_TRYV(check_set_expr(e, *s));
      s->exprs.push_back(std::move(e));
    }
  }
  if (r[NFTA_SET_USERDATA])
    s->userdata.emplace(r[NFTA_SET_USERDATA]->payload.begin(),
                        r[NFTA_SET_USERDATA]->payload.end());
  s->batch_id = r[NFTA_SET_ID]->be32();
  s->handle = t->alloc_handle();
  Op op{OpKind::kNewSet, c.origin};
  op.table = t;
  op.set = s.get();
  const bool anon = s->anonymous();
  t->sets.push_back(std::move(s));
  if (!anon) t->use++;  // observed on 6.18: anonymous sets are not counted
  c.txn.add(op);
  return {};
}

Result<void> del_set(BatchCtx& c) {
  const Request& r = c.req;
  auto table = lookup_table(c.rs, r[NFTA_SET_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_SET_TABLE]);
  store::Table* t = *table;
  const Attr* attr;
  store::Set* s;
  if (r[NFTA_SET_HANDLE]) {
    attr = r[NFTA_SET_HANDLE];
    s = t->find_set_by_handle(attr->be64());
  } else {
    attr = r[NFTA_SET_NAME];
    if (!attr) return fail(EINVAL, "");
    s = t->find_set(attr->str());
  }
  if (!s) {
    if (r.type == NFT_MSG_DESTROYSET) return {};
    return fail_at(ENOENT, attr);
  }
  if (s->use > 0 || (r.flag(NLM_F_NONREC) && !s->elems.empty())) return fail_at(EBUSY, attr);
  s->vis.next = false;
  set_elem_refs(*s, -1);
  if (!s->anonymous()) t->use--;
  Op op{OpKind::kDelSet, c.origin};
  op.table = t;
  op.set = s;
  c.txn.add(op);
  return {};
}

}  // namespace nfbpf::nftables
