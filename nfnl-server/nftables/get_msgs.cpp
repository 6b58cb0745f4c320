// GET* requests: dumps (NLM_F_DUMP) and single-object replies from the committed ruleset
// (nf_tables_dump_*, nf_tables_get*). Only objects with vis.cur are visible here.
#include <sys/socket.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>

#include "nfnl-server/nftables/elem_lookup.h"
#include "nfnl-server/nftables/fill.h"
#include "nfnl-server/nftables/handlers.h"
#include "nfnl-server/nftables/policies.h"

namespace nfbpf::nftables {
namespace {

constexpr size_t kElemsPerMsg = 3500;  // bytes of elements per NEWSETELEM dump message

bool dump_requested(const Request& r) { return (r.hdr.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP; }

FillHdr hdr(const GetCtx& c, uint16_t event, uint16_t flags) {
  return FillHdr{event, flags, c.portid, c.req.hdr.nlmsg_seq, c.rs.genid};
}

bool family_match(uint8_t want, uint8_t have) { return want == AF_UNSPEC || want == have; }

store::Table* cur_table(const store::Ruleset& rs, uint8_t family, std::string_view name) {
  for (const auto& t : rs.tables)
    if (t->vis.cur && t->family == family && t->name == name) return t.get();
  return nullptr;
}
store::Chain* cur_chain(const store::Table& t, std::string_view name) {
  for (const auto& c : t.chains)
    if (c->vis.cur && c->name == name) return c.get();
  return nullptr;
}
store::Set* cur_set(const store::Table& t, std::string_view name) {
  for (const auto& s : t.sets)
    if (s->vis.cur && s->name == name) return s.get();
  return nullptr;
}

void dump_chain_rules(const GetCtx& c, const store::Table& t, const store::Chain& ch,
                      std::vector<nfnl::Message>& out) {
  uint64_t prev = 0;
  for (const auto& r : ch.rules) {
    if (!r.vis.cur) continue;
    out.push_back(fill_rule(hdr(c, NFT_MSG_NEWRULE, NLM_F_MULTI | NLM_F_APPEND), t, ch, r, prev));
    prev = r.handle;
  }
}

// NFTA_SET_ELEM_KEY / KEY_END of a GET request: NFTA_DATA_VALUE of the set's key length.
Result<std::vector<uint8_t>> get_key(const Attr& a, uint32_t len) {
  NFBPF_TRY_ASSIGN(tb, parse_nested(a, policy::data()));
  if (!tb[NFTA_DATA_VALUE] || tb[NFTA_DATA_VALUE]->payload.size() != len) return fail(EINVAL, "");
  return std::vector<uint8_t>(tb[NFTA_DATA_VALUE]->payload.begin(), tb[NFTA_DATA_VALUE]->payload.end());
}

// nft_get_set_elem(): the element one NFTA_LIST_ELEM of the request names.
Result<const store::SetElem*> get_one_elem(const store::Set& s, const Attr& el) {
  NFBPF_TRY_ASSIGN(tb, parse_nested(el, policy::set_elem()));
  store::SetElem probe;
  if (tb[NFTA_SET_ELEM_FLAGS]) {
    probe.flags = tb[NFTA_SET_ELEM_FLAGS]->be32();
    if (probe.flags & ~(NFT_SET_ELEM_INTERVAL_END | NFT_SET_ELEM_CATCHALL)) return fail(EOPNOTSUPP, "");
  }
  if (tb[NFTA_SET_ELEM_KEY]) {
    NFBPF_TRY_ASSIGN(k, get_key(*tb[NFTA_SET_ELEM_KEY], s.key_len));
    probe.key = std::move(k);
  } else if (!(probe.flags & NFT_SET_ELEM_CATCHALL)) {
    return fail(EINVAL, "");
  }
  if (tb[NFTA_SET_ELEM_KEY_END]) {
    NFBPF_TRY_ASSIGN(k, get_key(*tb[NFTA_SET_ELEM_KEY_END], s.key_len));
    probe.key_end = std::move(k);
  }
  const store::SetElem* e = find_elem_for_get(s, probe, store::now_ms());
  if (!e) return fail(ENOENT, "");
  return e;
}

// nf_tables_getsetelem() without NLM_F_DUMP: one NEWSETELEM (flags 0) per requested element,
// in request order; the first element not found ends the request with its error, pointing at
// that element, after the replies for the ones before it.
Result<std::vector<nfnl::Message>> get_single_elems(const GetCtx& c, const store::Table& t,
                                                    const store::Set& s) {
  std::vector<nfnl::Message> out;
  const Attr* list = c.req[NFTA_SET_ELEM_LIST_ELEMENTS];
  if (!list) return fail(EINVAL, "");
  size_t rest = 0;
  for (const Attr& el : split_attrs(list->payload, list->offset + NLA_HDRLEN, &rest)) {
    auto e = get_one_elem(s, el);
    if (!e) {
      if (c.sent_before_error)
        for (auto& m : out) c.sent_before_error->push_back(std::move(m));
      return fail_at(e.error().err, &el);
    }
    out.push_back(fill_setelems(hdr(c, NFT_MSG_NEWSETELEM, 0), t, s, {*e}));
  }
  return out;
}

}  // namespace

Result<std::vector<nfnl::Message>> get_table(const GetCtx& c) {
  std::vector<nfnl::Message> out;
  const Request& r = c.req;
  if (dump_requested(r)) {
    for (const auto& t : c.rs.tables)
      if (t->vis.cur && family_match(r.family, t->family))
        out.push_back(fill_table(hdr(c, NFT_MSG_NEWTABLE, NLM_F_MULTI), *t));
    out.push_back(fill_done(c.portid, r.hdr.nlmsg_seq));
    return out;
  }
  if (!r[NFTA_TABLE_NAME]) return fail(EINVAL, "");
  store::Table* t = cur_table(c.rs, r.family, r[NFTA_TABLE_NAME]->str());
  if (!t) return fail_at(ENOENT, r[NFTA_TABLE_NAME]);
  out.push_back(fill_table(hdr(c, NFT_MSG_NEWTABLE, 0), *t));
  return out;
}

Result<std::vector<nfnl::Message>> get_chain(const GetCtx& c) {
  std::vector<nfnl::Message> out;
  const Request& r = c.req;
  if (dump_requested(r)) {
    for (const auto& t : c.rs.tables) {
      if (!t->vis.cur || !family_match(r.family, t->family)) continue;
      for (const auto& ch : t->chains)
        if (ch->vis.cur) out.push_back(fill_chain(hdr(c, NFT_MSG_NEWCHAIN, NLM_F_MULTI), *t, *ch));
    }
    out.push_back(fill_done(c.portid, r.hdr.nlmsg_seq));
    return out;
  }
  if (!r[NFTA_CHAIN_TABLE]) return fail(EINVAL, "");
  store::Table* t = cur_table(c.rs, r.family, r[NFTA_CHAIN_TABLE]->str());
  if (!t) return fail_at(ENOENT, r[NFTA_CHAIN_TABLE]);
  if (!r[NFTA_CHAIN_NAME]) return fail(EINVAL, "");
  store::Chain* ch = cur_chain(*t, r[NFTA_CHAIN_NAME]->str());
  if (!ch) return fail_at(ENOENT, r[NFTA_CHAIN_NAME]);
  out.push_back(fill_chain(hdr(c, NFT_MSG_NEWCHAIN, 0), *t, *ch));
  return out;
}

Result<std::vector<nfnl::Message>> get_rule(const GetCtx& c) {
  std::vector<nfnl::Message> out;
  const Request& r = c.req;
  if (dump_requested(r)) {
    for (const auto& t : c.rs.tables) {
      if (!t->vis.cur || !family_match(r.family, t->family)) continue;
      if (r[NFTA_RULE_TABLE] && r[NFTA_RULE_TABLE]->str() != t->name) continue;
      for (const auto& ch : t->chains) {
        if (!ch->vis.cur) continue;
        if (r[NFTA_RULE_CHAIN] && r[NFTA_RULE_CHAIN]->str() != ch->name) continue;
        dump_chain_rules(c, *t, *ch, out);
      }
    }
    out.push_back(fill_done(c.portid, r.hdr.nlmsg_seq));
    return out;
  }
  if (!r[NFTA_RULE_TABLE]) return fail(EINVAL, "");
  store::Table* t = cur_table(c.rs, r.family, r[NFTA_RULE_TABLE]->str());
  if (!t) return fail_at(ENOENT, r[NFTA_RULE_TABLE]);
  if (!r[NFTA_RULE_CHAIN]) return fail(EINVAL, "");
  store::Chain* ch = cur_chain(*t, r[NFTA_RULE_CHAIN]->str());
  if (!ch) return fail_at(ENOENT, r[NFTA_RULE_CHAIN]);
  if (!r[NFTA_RULE_HANDLE]) return fail(EINVAL, "");
  uint64_t h = r[NFTA_RULE_HANDLE]->be64();
  for (const auto& rule : ch->rules)
    if (rule.vis.cur && rule.handle == h) {
      out.push_back(fill_rule(hdr(c, NFT_MSG_NEWRULE, 0), *t, *ch, rule, 0));
      return out;
    }
  return fail_at(ENOENT, r[NFTA_RULE_HANDLE]);
}

Result<std::vector<nfnl::Message>> get_set(const GetCtx& c) {
  std::vector<nfnl::Message> out;
  const Request& r = c.req;
  if (dump_requested(r)) {
    for (const auto& t : c.rs.tables) {
      if (!t->vis.cur || !family_match(r.family, t->family)) continue;
      if (r[NFTA_SET_TABLE] && r[NFTA_SET_TABLE]->str() != t->name) continue;
      for (const auto& s : t->sets)
        if (s->vis.cur) out.push_back(fill_set(hdr(c, NFT_MSG_NEWSET, NLM_F_MULTI), *t, *s));
    }
    out.push_back(fill_done(c.portid, r.hdr.nlmsg_seq));
    return out;
  }
  if (!r[NFTA_SET_TABLE]) return fail(EINVAL, "");
  store::Table* t = cur_table(c.rs, r.family, r[NFTA_SET_TABLE]->str());
  if (!t) return fail_at(ENOENT, r[NFTA_SET_TABLE]);
  if (!r[NFTA_SET_NAME]) return fail(EINVAL, "");
  store::Set* s = cur_set(*t, r[NFTA_SET_NAME]->str());
  if (!s) return fail_at(ENOENT, r[NFTA_SET_NAME]);
  out.push_back(fill_set(hdr(c, NFT_MSG_NEWSET, 0), *t, *s));
  return out;
}

Result<std::vector<nfnl::Message>> get_setelem(const GetCtx& c) {
  std::vector<nfnl::Message> out;
  const Request& r = c.req;
  store::Table* t = r[NFTA_SET_ELEM_LIST_TABLE]
                        ? cur_table(c.rs, r.family, r[NFTA_SET_ELEM_LIST_TABLE]->str())
                        : nullptr;
  if (!t) return fail_at(r[NFTA_SET_ELEM_LIST_TABLE] ? ENOENT : EINVAL, r[NFTA_SET_ELEM_LIST_TABLE]);
  store::Set* s =
      r[NFTA_SET_ELEM_LIST_SET] ? cur_set(*t, r[NFTA_SET_ELEM_LIST_SET]->str()) : nullptr;
  if (!s) return fail_at(ENOENT, r[NFTA_SET_ELEM_LIST_SET]);
  if (!dump_requested(r)) return get_single_elems(c, *t, *s);
  std::vector<const store::SetElem*> batch;
  size_t bytes = 0;
  std::vector<const store::SetElem*> elems;
  const uint64_t now = store::now_ms();
  for (const auto& e : s->elems)
    if (e.vis.cur && !e.expired(now)) elems.push_back(&e);
  if (s->backend == store::SetBackend::kRbtree) {
    // The rbtree backend walks from the greatest key down. Every other backend the order
    // follows is insertion order: pipapo (concatenated intervals) walks its last field's rule
    // array, which insertion appends to and deletion compacts; hash and bitmap keep a list
    // (rhashtable order is seeded randomly in the kernel, so no order is "right" there).
    std::stable_sort(elems.begin(), elems.end(), [](const auto* a, const auto* b) {
      return a->key > b->key;
    });
  }
  // Catchall elements come last, in the final message of the dump (see below).
  std::vector<const store::SetElem*> catchall;
  std::erase_if(elems, [&](const store::SetElem* e) {
    if (!(e->flags & NFT_SET_ELEM_CATCHALL)) return false;
    catchall.push_back(e);
    return true;
  });
  for (const store::SetElem* ep : elems) {
    const store::SetElem& e = *ep;
    size_t sz = 64 + e.key.size() * 2 + (e.userdata ? e.userdata->size() : 0);
    if (!batch.empty() && bytes + sz > kElemsPerMsg) {
      out.push_back(fill_setelems(hdr(c, NFT_MSG_NEWSETELEM, NLM_F_MULTI), *t, *s, batch));
      batch.clear();
      bytes = 0;
    }
    batch.push_back(&e);
    bytes += sz;
  }
  if (!batch.empty())
    out.push_back(fill_setelems(hdr(c, NFT_MSG_NEWSETELEM, NLM_F_MULTI), *t, *s, batch));
  // nf_tables_dump_set() is called until it makes no progress; that last call emits a message
  // holding the catchall elements, if any (an empty element list otherwise).
  out.push_back(fill_setelems(hdr(c, NFT_MSG_NEWSETELEM, NLM_F_MULTI), *t, *s, catchall));
  out.push_back(fill_done(c.portid, r.hdr.nlmsg_seq));
  return out;
}

Result<std::vector<nfnl::Message>> get_gen(const GetCtx& c) {
  std::vector<nfnl::Message> out;
  out.push_back(fill_gen(hdr(c, NFT_MSG_NEWGEN, 0), c.rs.genid, uint32_t(c.req.peer->pid),
                         c.req.peer->comm));
  return out;
}

Result<std::vector<nfnl::Message>> get_empty(const GetCtx& c) {
  std::vector<nfnl::Message> out;
  if (!dump_requested(c.req)) return fail(ENOENT, "");
  out.push_back(fill_done(c.portid, c.req.hdr.nlmsg_seq));
  return out;
}

}  // namespace nfbpf::nftables
