#include "nfnl-server/offload/kernel_tables.h"

#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/log.h"
#include "nfnl-server/nftables/fill.h"
#include "nfnl-server/offload/counter_listing.h"
#include "nfnl-server/offload/ruleset_snapshot.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace nfbpf::offload {

namespace {

using codegen::abi::Counter;

template <typename T, void (*Free)(const T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using TablePtr = std::unique_ptr<nftnl_table, Deleter<nftnl_table, nftnl_table_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, Deleter<nftnl_chain, nftnl_chain_free>>;
using RulePtr = std::unique_ptr<nftnl_rule, Deleter<nftnl_rule, nftnl_rule_free>>;
using SetPtr = std::unique_ptr<nftnl_set, Deleter<nftnl_set, nftnl_set_free>>;
using ObjPtr = std::unique_ptr<nftnl_obj, Deleter<nftnl_obj, nftnl_obj_free>>;

const nlmsghdr* hdr(const nfnl::Message& m) { return reinterpret_cast<const nlmsghdr*>(m.data()); }

constexpr uint16_t kCreate = NLM_F_CREATE;
constexpr size_t kElemsPerMsg = 128;
// Echoes queue with the batch's acks in the socket's receive buffer (32 MB): an estimated
// ~16 MB for 10 000 rules (acks ~0.5-0.8 KB each, echoes ~2x their bytes), tested at that size.
constexpr size_t kMaxEchoedRules = 10000;

// Counter values for the nth counter expression of a rule of the table being built.
using RuleCounters = std::function<std::optional<Counter>(const store::Chain&, const store::Rule&, size_t nth)>;
using ObjectCounters = std::function<std::optional<Counter>(const store::Object&)>;
// Consumed bytes for the nth quota expression of a rule of the table being built.
using RuleQuotas = std::function<std::optional<uint64_t>(const store::Chain&, const store::Rule&, size_t nth)>;
// A base chain's counters (NFTA_CHAIN_COUNTERS), for chains that have them.
using ChainCounters = std::function<std::optional<Counter>(const store::Chain&)>;

// Sets the nth counter expression's values and the nth quota expression's consumed bytes (nftnl
// rule, parsed from the store's listing). A quota's CONSUMED is always set (0 when `quota` has no
// value): the store's copy holds the last listing's value, which must not reach the fingerprint.
void override_state(nftnl_rule* r, const std::function<std::optional<Counter>(size_t)>& counter,
                    const std::function<std::optional<uint64_t>(size_t)>& quota) {
  nftnl_expr_iter* it = nftnl_expr_iter_create(r);
  size_t nth_counter = 0, nth_quota = 0;
  for (nftnl_expr* e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
    const std::string_view name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    if (name == "counter") {
      if (auto v = counter(nth_counter++)) {
        nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, v->packets);
        nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_BYTES, v->bytes);
      }
    } else if (name == "quota") {
      // nft_quota_init refuses CONSUMED > BYTES (EINVAL); a dumped value is capped already.
      uint64_t consumed = quota(nth_quota++).value_or(0);
      consumed = std::min<uint64_t>(consumed, nftnl_expr_get_u64(e, NFTNL_EXPR_QUOTA_BYTES));
      nftnl_expr_set_u64(e, NFTNL_EXPR_QUOTA_CONSUMED, consumed);
    }
  }
  nftnl_expr_iter_destroy(it);
}

// Whether `r` is an NLM_F_REPLACE replacement in this batch: it keeps the handle of the rule it
// replaces, but starts from its own values, as the kernel's new rule does.
bool replaces_a_rule(const store::Chain& c, const store::Rule& r) {
  if (r.vis.cur) return false;
  return std::any_of(c.rules.begin(), c.rules.end(),
                     [&](const store::Rule& o) { return &o != &r && o.handle == r.handle && o.vis.cur && !o.vis.next; });
}

// The kernel lists some expressions with attributes its init functions refuse in a request (the
// store keeps the listed form): nft_exthdr_dump_common puts FLAGS, OFFSET and LEN for a TCP
// option write (`tcp option maxseg size set 1360`: nft_exthdr_tcp_set_init refuses FLAGS) and a
// strip (`reset tcp option mptcp`: nft_exthdr_tcp_strip_init refuses all three), and
// nft_dynset_dump always puts TIMEOUT, which nft_dynset_init refuses (EOPNOTSUPP) on a set
// without the timeout flag (`add @set5 { ip saddr . ip daddr }`). A zero TIMEOUT means "none"
// in a request too, so dropping it changes nothing for a set with timeouts.
store::Rule request_form(const store::Rule& r) {
  store::Rule out;
  out.handle = r.handle;
  out.userdata = r.userdata;
  out.exprs = r.exprs;
  const auto drop = [](store::Expr& e, std::initializer_list<uint16_t> types) {
    std::erase_if(e.data, [&](const store::ExprAttr& a) {
      return std::find(types.begin(), types.end(), a.type) != types.end();
    });
  };
  for (store::Expr& e : out.exprs) {
    if (e.name == "exthdr" && !e.find(NFTA_EXTHDR_DREG)) {
      if (e.find(NFTA_EXTHDR_SREG)) drop(e, {NFTA_EXTHDR_FLAGS});
      else drop(e, {NFTA_EXTHDR_FLAGS, NFTA_EXTHDR_OFFSET, NFTA_EXTHDR_LEN});
    } else if (e.name == "dynset") {
      const store::ExprAttr* t = e.find(NFTA_DYNSET_TIMEOUT);
      if (t && t->be64() == 0) drop(e, {NFTA_DYNSET_TIMEOUT});
    }
  }
  return out;
}

std::string fam_name(uint8_t nfproto) {
  switch (nfproto) {
    case 1: return "inet";
    case 2: return "ip";
    case 3: return "arp";
    case 5: return "netdev";
    case 7: return "bridge";
    case 10: return "ip6";
    default: return std::to_string(nfproto);
  }
}

std::string bytes_of(const KernelMsg& m) { return std::string(reinterpret_cast<const char*>(m.bytes.data()), m.bytes.size()); }

// What names an element in a set: its key, key end (ranges of concatenations) and flags (an
// interval's end element has the key of the next start's predecessor and NFT_SET_ELEM_INTERVAL_END).
std::string element_identity(nftnl_set_elem* e) {
  std::string id;
  for (uint16_t a : {NFTNL_SET_ELEM_KEY, NFTNL_SET_ELEM_KEY_END, NFTNL_SET_ELEM_FLAGS}) {
    uint32_t len = 0;
    const void* v = nftnl_set_elem_is_set(e, a) ? nftnl_set_elem_get(e, a, &len) : nullptr;
    id += fmt::format("{}:{}:", a, len);
    if (v) id.append(static_cast<const char*>(v), len);
  }
  return id;
}

// One DELSETELEM naming the elements of `adds` (their one-element NEWSETELEMs) by identity; a
// DESTROYSETELEM when `destroy`: the kernel skips the elements it no longer has (ENOENT), which
// elements with a timeout may be (it expires them itself).
KernelMsg delete_elements(const TableKey& key, const std::string& set, const std::vector<const KernelMsg*>& adds,
                          bool destroy = false) {
  SetPtr ds(nftnl_set_alloc());
  nftnl_set_set_str(ds.get(), NFTNL_SET_TABLE, key.second.c_str());
  nftnl_set_set_str(ds.get(), NFTNL_SET_NAME, set.c_str());
  size_t room = 256;
  for (const KernelMsg* m : adds) {
    room += m->bytes.size();
    SetPtr os(nftnl_set_alloc());
    if (nftnl_set_elems_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(m->bytes.data()), os.get()) < 0) continue;
    nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(os.get());
    for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it); e; e = nftnl_set_elems_iter_next(it)) {
      nftnl_set_elem* d = nftnl_set_elem_alloc();
      for (uint16_t a : {NFTNL_SET_ELEM_KEY, NFTNL_SET_ELEM_KEY_END, NFTNL_SET_ELEM_FLAGS}) {
        uint32_t len = 0;
        if (!nftnl_set_elem_is_set(e, a)) continue;
        const void* v = nftnl_set_elem_get(e, a, &len);
        nftnl_set_elem_set(d, a, v, len);
      }
      nftnl_set_elem_add(ds.get(), d);
    }
    nftnl_set_elems_iter_destroy(it);
  }
  return kernel_msg(destroy ? NFT_MSG_DESTROYSETELEM : NFT_MSG_DELSETELEM, key.first, 0, room * 2,
                    [&](nlmsghdr* n) { nftnl_set_elems_nlmsg_build_payload(n, ds.get()); },
                    fmt::format("delete elements from set {} {} {}", fam_name(key.first), key.second, set));
}

// The NEWRULE of one rule: appended (NLM_F_APPEND, no position), or placed by `position` (the
// kernel handle it goes after with NLM_F_APPEND, before without; at the head when neither), or
// with `flags` NLM_F_REPLACE, replacing the kernel rule whose handle `position` is.
Result<KernelMsg> build_rule(const store::Table& t, const store::Chain& c, const store::Rule& r, const RuleCounters& rule_ctr,
                             const RuleQuotas& rule_quota, uint16_t flags, std::optional<uint64_t> position) {
  nftables::FillHdr h{};
  h.event = NFT_MSG_NEWRULE;
  nfnl::Message m = nftables::fill_rule(h, t, c, request_form(r), 0);
  RulePtr nr(nftnl_rule_alloc());
  if (nftnl_rule_nlmsg_parse(hdr(m), nr.get()) < 0)
    return failf(EINVAL, "rule {} in chain {} {} {}: cannot re-encode it", r.handle, fam_name(t.family), t.name, c.name);
  nftnl_rule_unset(nr.get(), NFTNL_RULE_HANDLE);
  nftnl_rule_unset(nr.get(), NFTNL_RULE_POSITION);
  if (position) nftnl_rule_set_u64(nr.get(), (flags & NLM_F_REPLACE) ? NFTNL_RULE_HANDLE : NFTNL_RULE_POSITION, *position);
  override_state(nr.get(), [&](size_t nth) { return rule_ctr(c, r, nth); }, [&](size_t nth) { return rule_quota(c, r, nth); });
  return kernel_msg(NFT_MSG_NEWRULE, t.family, flags, m.size() * 2,
                    [&](nlmsghdr* n) { nftnl_rule_nlmsg_build_payload(n, nr.get()); },
                    fmt::format("add rule {} {} {} (handle {})", fam_name(t.family), t.name, c.name, r.handle));
}

// The messages that create the kernel part of one table.
Result<KernelTables::Held> build_table(const store::Table& t, const TablePlacement& p, const RuleCounters& rule_ctr,
                                       const RuleQuotas& rule_quota, const ObjectCounters& obj_ctr,
                                       const ChainCounters& chain_ctr, bool persist) {
  KernelTables::Held out;
  const uint8_t fam = t.family;
  const std::string where = fmt::format("{} {}", fam_name(fam), t.name);
  nftables::FillHdr h{};

  {  // table
    h.event = NFT_MSG_NEWTABLE;
    nfnl::Message m = nftables::fill_table(h, t);
    TablePtr nt(nftnl_table_alloc());
    if (nftnl_table_nlmsg_parse(hdr(m), nt.get()) < 0) return failf(EINVAL, "table {}: cannot re-encode it", where);
    nftnl_table_unset(nt.get(), NFTNL_TABLE_HANDLE);
    nftnl_table_unset(nt.get(), NFTNL_TABLE_USE);
    nftnl_table_unset(nt.get(), NFTNL_TABLE_OWNER);
    nftnl_table_set_u32(nt.get(), NFTNL_TABLE_FLAGS, (t.flags & NFT_TABLE_F_DORMANT) | NFT_TABLE_F_OWNER |
                                                         (persist ? uint32_t{NFT_TABLE_F_PERSIST} : 0u));
    out.msgs.push_back(kernel_msg(NFT_MSG_NEWTABLE, fam, kCreate, m.size(),
                                  [&](nlmsghdr* n) { nftnl_table_nlmsg_build_payload(n, nt.get()); },
                                  "add table " + where));
  }

  std::vector<const store::Chain*> chains;
  for (const auto& c : t.chains)
    if (c->vis.active_next())
      if (const ChainPlacement* cp = p.find(c->name); cp && cp->kernel) chains.push_back(c.get());

  // What their rules use, in the table's order (a set's elements may name objects).
  std::set<const store::Set*> sets;
  std::set<const store::Object*> objects;
  for (const store::Chain* c : chains)
    for (const auto& r : c->rules) {
      if (!r.vis.active_next()) continue;
      for (const store::Set* s : r.set_refs) sets.insert(s);
      for (const store::Object* o : r.obj_refs) objects.insert(o);
    }
  for (const store::Set* s : sets)
    for (const auto& e : s->elems)
      if (e.vis.active_next() && e.obj) objects.insert(e.obj);

  for (const store::Chain* c : chains) {
    h.event = NFT_MSG_NEWCHAIN;
    nfnl::Message m = nftables::fill_chain(h, t, *c);
    ChainPtr nc(nftnl_chain_alloc());
    if (nftnl_chain_nlmsg_parse(hdr(m), nc.get()) < 0) return failf(EINVAL, "chain {} {}: cannot re-encode it", where, c->name);
    for (uint16_t a : {NFTNL_CHAIN_HANDLE, NFTNL_CHAIN_USE, NFTNL_CHAIN_FLAGS, NFTNL_CHAIN_BYTES, NFTNL_CHAIN_PACKETS})
      nftnl_chain_unset(nc.get(), a);
    if (c->hook) nftnl_chain_set_u32(nc.get(), NFTNL_CHAIN_POLICY, c->hook->policy_next);
    // Base chain counters: the kernel allocates them only when NEWCHAIN carries them, and then
    // counts the packets that reach the policy; they start from the values the chain has.
    if (c->hook && (c->hook->stats || c->hook->stats_pending))
      if (auto v = chain_ctr(*c)) {
        nftnl_chain_set_u64(nc.get(), NFTNL_CHAIN_PACKETS, v->packets);
        nftnl_chain_set_u64(nc.get(), NFTNL_CHAIN_BYTES, v->bytes);
      }
    out.msgs.push_back(kernel_msg(NFT_MSG_NEWCHAIN, fam, kCreate, m.size(),
                                  [&](nlmsghdr* n) { nftnl_chain_nlmsg_build_payload(n, nc.get()); },
                                  fmt::format("add chain {} {}", where, c->name)));
  }

  for (const auto& o : t.objects) {
    if (!objects.contains(o.get()) || !o->vis.active_next()) continue;
    h.event = NFT_MSG_NEWOBJ;
    nfnl::Message m = nftables::fill_obj(h, t, *o);
    ObjPtr no(nftnl_obj_alloc());
    if (nftnl_obj_nlmsg_parse(hdr(m), no.get()) < 0) return failf(EINVAL, "object {} {}: cannot re-encode it", where, o->name);
    // Its HANDLE stays (libnftnl 1.2.4 exports no nftnl_obj_unset): nf_tables_newobj ignores it.
    if (o->type == NFT_OBJECT_COUNTER)
      if (auto v = obj_ctr(*o)) {
        nftnl_obj_set_u64(no.get(), NFTNL_OBJ_CTR_PKTS, v->packets);
        nftnl_obj_set_u64(no.get(), NFTNL_OBJ_CTR_BYTES, v->bytes);
      }
    out.msgs.push_back(kernel_msg(NFT_MSG_NEWOBJ, fam, kCreate, m.size(),
                                  [&](nlmsghdr* n) { nftnl_obj_nlmsg_build_payload(n, no.get()); },
                                  fmt::format("add object {} {}", where, o->name)));
  }

  for (const auto& s : t.sets) {
    if (!sets.contains(s.get()) || !s->vis.active_next()) continue;
    h.event = NFT_MSG_NEWSET;
    nfnl::Message m = nftables::fill_set(h, t, *s);
    SetPtr ns(nftnl_set_alloc());
    if (nftnl_set_nlmsg_parse(hdr(m), ns.get()) < 0) return failf(EINVAL, "set {} {}: cannot re-encode it", where, s->name);
    nftnl_set_unset(ns.get(), NFTNL_SET_HANDLE);
    // A dynset binding gives a set without a size the size 0xffff (nft_dynset_init, mirrored
    // by the store), but sent back as NFTA_SET_DESC_SIZE it makes nft_select_set_ops pick the
    // fixed-size hash, which has no update op: the dynset rule then gets EOPNOTSUPP. Such a set
    // was created without a size (the store picked rhash for it), so it is re-created without
    // one and the rule's binding gives it 0xffff again.
    if (s->backend == store::SetBackend::kRhash && s->size == 0xffff)
      nftnl_set_unset(ns.get(), NFTNL_SET_DESC_SIZE);
    // nf_tables_newset requires NFTA_SET_ID (the batch-local id rules may refer to); never listed.
    nftnl_set_set_u32(ns.get(), NFTNL_SET_ID, static_cast<uint32_t>(out.msgs.size()));
    out.msgs.push_back(kernel_msg(NFT_MSG_NEWSET, fam, kCreate, m.size(),
                                  [&](nlmsghdr* n) { nftnl_set_nlmsg_build_payload(n, ns.get()); },
                                  fmt::format("add set {} {}", where, s->name)));
    std::vector<const store::SetElem*> elems;
    const uint64_t now = store::now_ms();
    for (const auto& e : s->elems)
      if (e.vis.active_next() && !e.expired(now)) elems.push_back(&e);
    if (elems.empty()) continue;
    h.event = NFT_MSG_NEWSETELEM;
    // In messages of at most kElemsPerMsg elements: the elements' nest length is 16 bits (a set of
    // 10 000 addresses in one message overflowed it and the kernel refused it, ENOENT).
    for (size_t from = 0; from < elems.size(); from += kElemsPerMsg) {
      const std::vector<const store::SetElem*> chunk(elems.begin() + from,
                                                     elems.begin() + std::min(elems.size(), from + kElemsPerMsg));
      nfnl::Message em = nftables::fill_setelems(h, t, *s, chunk);
      SetPtr es(nftnl_set_alloc());
      if (nftnl_set_elems_nlmsg_parse(hdr(em), es.get()) < 0)
        return failf(EINVAL, "set {} {}: cannot re-encode its elements", where, s->name);
      // Elements start their timeout again (the remaining time is not carried over yet).
      nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(es.get());
      for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it); e; e = nftnl_set_elems_iter_next(it))
        nftnl_set_elem_unset(e, NFTNL_SET_ELEM_EXPIRATION);
      nftnl_set_elems_iter_destroy(it);
      out.msgs.push_back(kernel_msg(NFT_MSG_NEWSETELEM, fam, kCreate, em.size() * 2,
                                    [&](nlmsghdr* n) { nftnl_set_elems_nlmsg_build_payload(n, es.get()); },
                                    fmt::format("add elements to set {} {}", where, s->name)));
    }
    if (s->flags & NFT_SET_ANONYMOUS) continue;  // constant: changes come with a new set
    // One by one, for in-place updates (KernelTables::incremental).
    auto& mine = out.elems[s->name];
    for (const store::SetElem* e : elems) {
      nfnl::Message one = nftables::fill_setelems(h, t, *s, std::vector<const store::SetElem*>{e});
      SetPtr os(nftnl_set_alloc());
      if (nftnl_set_elems_nlmsg_parse(hdr(one), os.get()) < 0)
        return failf(EINVAL, "set {} {}: cannot re-encode an element", where, s->name);
      std::string id;
      bool timeout = false;
      nftnl_set_elems_iter* oi = nftnl_set_elems_iter_create(os.get());
      for (nftnl_set_elem* oe = nftnl_set_elems_iter_next(oi); oe; oe = nftnl_set_elems_iter_next(oi)) {
        nftnl_set_elem_unset(oe, NFTNL_SET_ELEM_EXPIRATION);
        id += element_identity(oe);
        timeout = timeout || nftnl_set_elem_is_set(oe, NFTNL_SET_ELEM_TIMEOUT);
      }
      nftnl_set_elems_iter_destroy(oi);
      KernelMsg add = kernel_msg(NFT_MSG_NEWSETELEM, fam, kCreate, one.size() * 2,
                                 [&](nlmsghdr* n) { nftnl_set_elems_nlmsg_build_payload(n, os.get()); },
                                 fmt::format("add element to set {} {}", where, s->name));
      std::string shape = bytes_of(add);
      mine[id] = KernelTables::Held::Elem{.shape = std::move(shape), .add = std::move(add), .timeout = timeout};
    }
  }

  for (const store::Chain* c : chains) {
    out.chain_order.push_back(c->name);
    auto& handles = out.rules[c->name];
    for (const auto& r : c->rules) {
      if (!r.vis.active_next()) continue;
      auto m = build_rule(t, *c, r, rule_ctr, rule_quota, kCreate | NLM_F_APPEND, std::nullopt);
      if (!m) return std::unexpected(std::move(m).error());
      out.rule_msgs.emplace(r.handle, std::move(*m));
      handles.push_back(r.handle);
    }
  }
  return out;
}

KernelMsg destroy_table(const TableKey& key) {
  TablePtr nt(nftnl_table_alloc());
  nftnl_table_set_str(nt.get(), NFTNL_TABLE_NAME, key.second.c_str());
  return kernel_msg(NFT_MSG_DESTROYTABLE, key.first, 0, 256,
                    [&](nlmsghdr* n) { nftnl_table_nlmsg_build_payload(n, nt.get()); },
                    fmt::format("destroy table {} {}", fam_name(key.first), key.second));
}

// What the state file keeps of a fingerprint (FNV-1a, 64 bits, hex): stable across daemons.
std::string digest(std::string_view fp) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : fp) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

std::string fingerprint(const std::vector<KernelMsg>& msgs) {
  std::string f;
  for (const KernelMsg& m : msgs) f.append(reinterpret_cast<const char*>(m.bytes.data()), m.bytes.size());
  return f;
}

// Every message of a held table in creation order (the rules after everything else).
std::vector<KernelMsg> all_msgs(const KernelTables::Held& h) {
  std::vector<KernelMsg> out = h.msgs;
  for (const std::string& chain : h.chain_order)
    if (auto rs = h.rules.find(chain); rs != h.rules.end())
      for (uint64_t handle : rs->second) out.push_back(h.rule_msgs.at(handle));
  return out;
}

// The shape fields of a table built without counter values.
bool is_elements(const KernelMsg& m) {
  return (reinterpret_cast<const nlmsghdr*>(m.bytes.data())->nlmsg_type & 0xff) == NFT_MSG_NEWSETELEM;
}

void set_shapes(KernelTables::Held& h) {
  // Elements are compared one by one (Held::elems), not as part of the head.
  h.head_shape.clear();
  for (const KernelMsg& m : h.msgs)
    if (!is_elements(m)) h.head_shape += bytes_of(m);
  h.rule_shapes.clear();
  for (const auto& [handle, m] : h.rule_msgs) h.rule_shapes[handle] = bytes_of(m);
  h.fingerprint = fingerprint(all_msgs(h));
}

KernelMsg delete_rule(const TableKey& key, const std::string& chain, uint64_t kernel_handle) {
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, key.second.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, kernel_handle);
  return kernel_msg(NFT_MSG_DELRULE, key.first, 0, 512, [&](nlmsghdr* n) { nftnl_rule_nlmsg_build_payload(n, r.get()); },
                    fmt::format("delete rule {} {} {} (kernel handle {})", fam_name(key.first), key.second, chain,
                                kernel_handle));
}

// A copy of `m` whose commit the kernel echoes (its NEWRULE carries the handle it gave the rule).
KernelMsg echoed(KernelMsg m) {
  reinterpret_cast<nlmsghdr*>(m.bytes.data())->nlmsg_flags |= NLM_F_ECHO;
  return m;
}

// The kernel handle an echoed NEWRULE carries (0: not a rule).
uint64_t echoed_rule_handle(const nlmsghdr* n) {
  if ((n->nlmsg_type & 0xff) != NFT_MSG_NEWRULE) return 0;
  RulePtr r(nftnl_rule_alloc());
  if (nftnl_rule_nlmsg_parse(n, r.get()) < 0 || !nftnl_rule_is_set(r.get(), NFTNL_RULE_HANDLE)) return 0;
  return nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE);
}

// One rule of a GETRULE dump, read straight from its attributes: refresh() reads every
// kernel-placed rule before each listing, and libnftnl's full parse (every expression allocated)
// was most of nfbpfd's own share of that.
struct DumpedRule {
  std::string_view chain;
  uint64_t handle = 0;
  std::vector<Counter> counters;  // of its counter expressions, in order
  std::vector<uint64_t> quotas;   // consumed bytes of its quota expressions, in order
};

template <typename F>
void each_attr(const void* start, size_t len, F&& f) {
  const auto* a = static_cast<const nlattr*>(start);
  int left = static_cast<int>(len);
  while (mnl_attr_ok(a, left)) {
    f(a);
    left -= MNL_ALIGN(a->nla_len);
    a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(a) + MNL_ALIGN(a->nla_len));
  }
}

template <typename F>
void each_nested(const nlattr* nest, F&& f) {
  each_attr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), std::forward<F>(f));
}

uint64_t be64_attr(const nlattr* a) {
  return mnl_attr_get_payload_len(a) >= sizeof(uint64_t) ? be64toh(mnl_attr_get_u64(a)) : 0;
}

bool parse_dumped_rule(const nlmsghdr* m, DumpedRule& out) {
  if ((m->nlmsg_type & 0xff) != NFT_MSG_NEWRULE) return false;
  const size_t off = MNL_ALIGN(sizeof(nfgenmsg));
  if (mnl_nlmsg_get_payload_len(m) < off) return false;
  each_attr(static_cast<const char*>(mnl_nlmsg_get_payload(m)) + off, mnl_nlmsg_get_payload_len(m) - off,
            [&](const nlattr* a) {
              switch (mnl_attr_get_type(a)) {
                case NFTA_RULE_CHAIN: out.chain = mnl_attr_get_str(a); break;
                case NFTA_RULE_HANDLE: out.handle = be64_attr(a); break;
                case NFTA_RULE_EXPRESSIONS:
                  each_nested(a, [&](const nlattr* elem) {
                    std::string_view name;
                    const nlattr* data = nullptr;
                    each_nested(elem, [&](const nlattr* f) {
                      if (mnl_attr_get_type(f) == NFTA_EXPR_NAME) name = mnl_attr_get_str(f);
                      else if (mnl_attr_get_type(f) == NFTA_EXPR_DATA) data = f;
                    });
                    if (name == "counter") {
                      Counter c{};
                      if (data)
                        each_nested(data, [&](const nlattr* f) {
                          if (mnl_attr_get_type(f) == NFTA_COUNTER_PACKETS) c.packets = be64_attr(f);
                          else if (mnl_attr_get_type(f) == NFTA_COUNTER_BYTES) c.bytes = be64_attr(f);
                        });
                      out.counters.push_back(c);
                    } else if (name == "quota") {
                      uint64_t consumed = 0;
                      if (data)
                        each_nested(data, [&](const nlattr* f) {
                          if (mnl_attr_get_type(f) == NFTA_QUOTA_CONSUMED) consumed = be64_attr(f);
                        });
                      out.quotas.push_back(consumed);
                    }
                  });
                  break;
                default: break;
              }
            });
  return !out.chain.empty();
}

}  // namespace

Result<KernelTables::Live> KernelTables::read(const TableKey& key, const Held& held, unsigned parts) {
  Live live;
  if (parts & kRules) {
    std::map<std::string, size_t> position;  // per chain: rules seen so far in the dump
    RulePtr filter(nftnl_rule_alloc());
    nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, key.second.c_str());
    KernelMsg req = kernel_msg(NFT_MSG_GETRULE, key.first, 0, 256,
                               [&](nlmsghdr* n) { nftnl_rule_nlmsg_build_payload(n, filter.get()); }, "rules");
    std::string last_chain;
    const std::vector<uint64_t>* held_chain = nullptr;
    NFBPF_TRYV(client_.dump(req, [&](const nlmsghdr* m) {
      DumpedRule r;
      if (!parse_dumped_rule(m, r)) return;
      if (r.chain != last_chain) {  // the dump goes chain by chain
        last_chain = r.chain;
        auto it = held.rules.find(last_chain);
        held_chain = it == held.rules.end() ? nullptr : &it->second;
      }
      const size_t pos = position[last_chain]++;
      live.rules_per_chain[last_chain] = pos + 1;
      if (!held_chain || pos >= held_chain->size()) return;
      const uint64_t ours = (*held_chain)[pos];
      live.kernel_handle[ours] = r.handle;
      live.counters[ours] = std::move(r.counters);
      live.quotas[ours] = std::move(r.quotas);
    }));
  }
  if (parts & kChains) {
    ChainPtr cfilter(nftnl_chain_alloc());
    nftnl_chain_set_str(cfilter.get(), NFTNL_CHAIN_TABLE, key.second.c_str());
    KernelMsg creq = kernel_msg(NFT_MSG_GETCHAIN, key.first, 0, 256,
                                [&](nlmsghdr* n) { nftnl_chain_nlmsg_build_payload(n, cfilter.get()); }, "chains");
    NFBPF_TRYV(client_.dump(creq, [&](const nlmsghdr* m) {
      ChainPtr c(nftnl_chain_alloc());
      if (nftnl_chain_nlmsg_parse(m, c.get()) < 0 || key.second != nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE)) return;
      if (!nftnl_chain_is_set(c.get(), NFTNL_CHAIN_PACKETS)) return;  // no counters
      live.chains[nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME)] =
          Counter{.packets = nftnl_chain_get_u64(c.get(), NFTNL_CHAIN_PACKETS), .bytes = nftnl_chain_get_u64(c.get(), NFTNL_CHAIN_BYTES)};
    }));
  }
  if (parts & kObjects) {
    ObjPtr ofilter(nftnl_obj_alloc());
    nftnl_obj_set_str(ofilter.get(), NFTNL_OBJ_TABLE, key.second.c_str());
    nftnl_obj_set_u32(ofilter.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
    KernelMsg oreq = kernel_msg(NFT_MSG_GETOBJ, key.first, 0, 256,
                                [&](nlmsghdr* n) { nftnl_obj_nlmsg_build_payload(n, ofilter.get()); }, "objects");
    NFBPF_TRYV(client_.dump(oreq, [&](const nlmsghdr* m) {
      ObjPtr o(nftnl_obj_alloc());
      if (nftnl_obj_nlmsg_parse(m, o.get()) < 0 || nftnl_obj_get_u32(o.get(), NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER) return;
      live.objects[nftnl_obj_get_str(o.get(), NFTNL_OBJ_NAME)] =
          Counter{.packets = nftnl_obj_get_u64(o.get(), NFTNL_OBJ_CTR_PKTS), .bytes = nftnl_obj_get_u64(o.get(), NFTNL_OBJ_CTR_BYTES)};
    }));
  }
  return live;
}

bool KernelTables::incremental(const TableKey& key, const store::Table& t, Held& from, Held& to,
                               const std::set<uint64_t>& replaced, std::vector<KernelMsg>& batch, Added& added) {
  if (from.head_shape.empty() || from.head_shape != to.head_shape || from.chain_order != to.chain_order) return false;
  static const std::vector<uint64_t> kNone;
  const auto rules_of = [](const Held& h, const std::string& chain) -> const std::vector<uint64_t>& {
    auto it = h.rules.find(chain);
    return it == h.rules.end() ? kNone : it->second;
  };
  // Only additions and deletions: the rules on both sides identical and in the same order.
  bool changed = false;
  for (const std::string& chain : to.chain_order) {
    const auto& old_rules = rules_of(from, chain);
    const auto& new_rules = rules_of(to, chain);
    const std::set<uint64_t> in_old(old_rules.begin(), old_rules.end()), in_new(new_rules.begin(), new_rules.end());
    std::vector<uint64_t> kept_old, kept_new;
    for (uint64_t h : old_rules) if (in_new.contains(h)) kept_old.push_back(h);
    for (uint64_t h : new_rules) if (in_old.contains(h)) kept_new.push_back(h);
    if (kept_old != kept_new) return false;
    for (uint64_t h : kept_new) {
      if (replaced.contains(h)) {  // sent as a NLM_F_REPLACE of its kernel rule
        changed = true;
        continue;
      }
      auto a = from.rule_shapes.find(h), b = to.rule_shapes.find(h);
      if (a == from.rule_shapes.end() || b == to.rule_shapes.end() || a->second != b->second) return false;
    }
    changed = changed || kept_new.size() != old_rules.size() || kept_new.size() != new_rules.size();
  }
  const bool rules_changed = changed;
  // Elements: added ones are sent; deleted (or changed) ones get a DELSETELEM, or a
  // DESTROYSETELEM when they have a timeout (the kernel may have expired them already: DELSETELEM
  // would be refused with ENOENT, DESTROYSETELEM skips them).
  std::vector<KernelMsg> elem_msgs;
  std::set<std::string> set_names;
  for (const auto& [set, _] : from.elems) set_names.insert(set);
  for (const auto& [set, _] : to.elems) set_names.insert(set);
  static const std::map<std::string, Held::Elem> kNoElems;
  for (const std::string& set : set_names) {
    auto fo = from.elems.find(set), tn = to.elems.find(set);
    const auto& old_elems = fo == from.elems.end() ? kNoElems : fo->second;
    const auto& new_elems = tn == to.elems.end() ? kNoElems : tn->second;
    std::vector<const KernelMsg*> gone, gone_timeout;
    for (const auto& [id, e] : old_elems) {
      auto n = new_elems.find(id);
      if (n != new_elems.end() && n->second.shape == e.shape) continue;
      (e.timeout ? gone_timeout : gone).push_back(&e.add);
    }
    if (!gone.empty()) elem_msgs.push_back(delete_elements(key, set, gone));
    if (!gone_timeout.empty()) elem_msgs.push_back(delete_elements(key, set, gone_timeout, true));
    for (const auto& [id, e] : new_elems) {
      auto o = old_elems.find(id);
      if (o == old_elems.end() || o->second.shape != e.shape) elem_msgs.push_back(e.add);
    }
  }
  changed = changed || !elem_msgs.empty();
  if (!changed) return false;
  // The kernel's handles of the rules it holds: echoed when they were added, else one dump.
  if (rules_changed && !from.kernel_handles_known) {
    auto l = read(key, from, kRules);
    if (!l) {
      log::warn("hybrid: reading kernel table {} {}'s handles: {}", fam_name(key.first), key.second, l.error().describe());
      return false;
    }
    for (const auto& [chain, handles] : from.rules) {
      auto n = l->rules_per_chain.find(chain);
      if ((n == l->rules_per_chain.end() ? 0 : n->second) != handles.size()) return false;  // not what we hold
    }
    from.kernel_handle = std::move(l->kernel_handle);
    from.kernel_handles_known = true;
  }
  const auto own = [](auto&&...) -> std::optional<Counter> { return std::nullopt; };
  const auto own_bytes = [](auto&&...) -> std::optional<uint64_t> { return std::nullopt; };
  std::vector<KernelMsg> msgs = std::move(elem_msgs);
  Added adds(msgs.size());
  std::map<uint64_t, KernelMsg> new_msgs;
  for (const std::string& chain : to.chain_order) {
    const auto& old_rules = rules_of(from, chain);
    const auto& new_rules = rules_of(to, chain);
    const std::set<uint64_t> in_old(old_rules.begin(), old_rules.end()), in_new(new_rules.begin(), new_rules.end());
    for (uint64_t h : old_rules) {
      if (in_new.contains(h)) continue;
      auto kh = from.kernel_handle.find(h);
      if (kh == from.kernel_handle.end()) return false;
      msgs.push_back(delete_rule(key, chain, kh->second));
      adds.emplace_back();
    }
    if (std::all_of(new_rules.begin(), new_rules.end(),
                    [&](uint64_t h) { return in_old.contains(h) && !replaced.contains(h); }))
      continue;
    auto sc = std::find_if(t.chains.begin(), t.chains.end(),
                           [&](const auto& c) { return c->name == chain && c->vis.active_next(); });
    if (sc == t.chains.end()) return false;
    const store::Chain& c = **sc;
    const auto rule = [&](uint64_t h) -> const store::Rule* {
      for (const auto& r : c.rules)
        if (r.handle == h && r.vis.active_next()) return &r;
      return nullptr;
    };
    // Each run of new rules goes after the kept rule before it (NLM_F_APPEND with its kernel
    // handle as the position), or at the chain's head: sent last first, each lands right there.
    std::optional<uint64_t> anchor;
    for (size_t i = 0; i < new_rules.size();) {
      if (in_old.contains(new_rules[i])) {
        auto kh = from.kernel_handle.find(new_rules[i]);
        if (kh == from.kernel_handle.end()) {
          log::warn("hybrid: no kernel handle for rule {} of {} {} {}: the table is replaced", new_rules[i],
                    fam_name(key.first), key.second, chain);
          return false;
        }
        anchor = kh->second;
        if (replaced.contains(new_rules[i])) {
          // Replaced by handle: the kernel's replacement keeps the kernel handle and starts from
          // its own values, as nfbpfd's does; the other rules are untouched.
          const store::Rule* r = rule(new_rules[i]);
          if (!r) return false;
          auto repl = build_rule(t, c, *r, own, own_bytes, NLM_F_REPLACE, kh->second);
          auto plain = build_rule(t, c, *r, own, own_bytes, kCreate | NLM_F_APPEND, std::nullopt);
          if (!repl || !plain) return false;
          msgs.push_back(std::move(*repl));
          adds.emplace_back();
          new_msgs.emplace(r->handle, std::move(*plain));
        }
        ++i;
        continue;
      }
      size_t end = i;
      while (end < new_rules.size() && !in_old.contains(new_rules[end])) ++end;
      for (size_t j = end; j-- > i;) {
        const store::Rule* r = rule(new_rules[j]);
        if (!r) return false;
        auto placed = build_rule(t, c, *r, own, own_bytes, anchor ? kCreate | NLM_F_APPEND : kCreate, anchor);
        auto plain = build_rule(t, c, *r, own, own_bytes, kCreate | NLM_F_APPEND, std::nullopt);
        if (!placed || !plain) return false;
        msgs.push_back(echoed(std::move(*placed)));
        adds.emplace_back(std::pair(key, r->handle));
        new_msgs.emplace(r->handle, std::move(*plain));
      }
      i = end;
    }
  }
  // What the kernel will hold: the held messages (values as sent then; the head is the same but
  // for the element messages, which carry no carried-over values: taken from `to`) and the new
  // rules'.
  std::vector<KernelMsg> head;
  size_t nth_held = 0;
  for (KernelMsg& m : to.msgs) {
    if (is_elements(m)) {
      head.push_back(std::move(m));
      continue;
    }
    while (nth_held < from.msgs.size() && is_elements(from.msgs[nth_held])) ++nth_held;
    head.push_back(nth_held < from.msgs.size() ? from.msgs[nth_held++] : std::move(m));
  }
  to.msgs = std::move(head);
  for (auto& [h, m] : to.rule_msgs) {
    if (auto n = new_msgs.find(h); n != new_msgs.end()) m = std::move(n->second);
    else m = from.rule_msgs.at(h);
  }
  to.kernel_handle.clear();
  for (const auto& [chain, handles] : to.rules)
    for (uint64_t h : handles)
      if (auto kh = from.kernel_handle.find(h); kh != from.kernel_handle.end()) to.kernel_handle[h] = kh->second;
  to.kernel_handles_known = false;  // until the echoes of the new rules arrive
  for (KernelMsg& m : msgs) batch.push_back(std::move(m));
  for (auto& a : adds) added.push_back(std::move(a));
  return true;
}

Result<void> KernelTables::apply(const store::Ruleset& next, const std::map<TableKey, TablePlacement>& placement) {
  rollback();  // nothing may stay over from an apply that was neither committed nor rolled back
  std::map<TableKey, Held> want;
  std::vector<KernelMsg> batch;
  Added added;  // per batch message: the rule a NEWRULE adds (its echo carries the kernel's handle)
  const auto push = [&](KernelMsg m, std::optional<std::pair<TableKey, uint64_t>> adds = std::nullopt) {
    batch.push_back(std::move(m));
    added.push_back(std::move(adds));
  };
  std::set<TableKey> rebuilt;  // tables whose kernel handles the echoes give
  std::vector<TableKey> wholes;  // tables re-created whole, sent after the loop
  std::map<TableKey, std::vector<uint64_t>> whole_created;  // per chain_order entry: Chain::created
  const auto zero = [](auto&&...) -> std::optional<Counter> { return Counter{}; };
  const auto zero_bytes = [](auto&&...) -> std::optional<uint64_t> { return 0; };
  for (const auto& t : next.tables) {
    if (!t->vis.active_next()) continue;
    const TableKey key{t->family, t->name};
    auto p = placement.find(key);
    if (p == placement.end() || !p->second.any_kernel()) continue;
    // Unchanged (counters aside)? Then the kernel keeps it as it is.
    auto shape = build_table(*t, p->second, zero, zero_bytes, zero, zero, !state_file_.empty());
    if (!shape) return std::unexpected(std::move(shape).error());
    set_shapes(*shape);
    const std::string fp = shape->fingerprint;
    auto held = committed_.find(key);
    // A chain update that replaces counters (`iptables -Z`) changes nothing the fingerprint sees:
    // the table is built again with the new values. Rules replaced by handle (NLM_F_REPLACE) are
    // replaced in place, even by an identical rule (its counters start from its own values).
    bool rebuild_anyway = false;
    std::set<uint64_t> replaced;
    for (const auto& c : t->chains) {
      const ChainPlacement* cp = p->second.find(c->name);
      if (!c->vis.active_next() || !cp || !cp->kernel) continue;
      rebuild_anyway = rebuild_anyway || (c->hook && c->hook->stats_pending);
      for (const store::Rule& r : c->rules)
        if (r.vis.active_next() && replaces_a_rule(*c, r)) replaced.insert(r.handle);
    }
    if (held != committed_.end() && held->second.fingerprint == fp && !rebuild_anyway && replaced.empty()) {
      want[key] = held->second;
      continue;
    }
    // Only rules added, deleted or replaced, elements added or deleted: in place, the other rules
    // untouched.
    if (held != committed_.end() && !rebuild_anyway) {
      if (incremental(key, *t, held->second, *shape, replaced, batch, added)) {
        want[key] = std::move(*shape);
        rebuilt.insert(key);
        continue;
      }
    }
    // Changed: carry the counters over from what runs now (new rules start from their own values).
    Live live;
    if (held != committed_.end()) {
      auto l = read(key, held->second);
      if (!l) return std::unexpected(std::move(l).error().with_context("reading the kernel's counters"));
      live = std::move(*l);
    }
    auto rule_ctr = [&](const store::Chain& c, const store::Rule& r, size_t nth) -> std::optional<Counter> {
      if (replaces_a_rule(c, r)) return std::nullopt;
      auto it = live.counters.find(r.handle);
      if (it == live.counters.end() || nth >= it->second.size()) return std::nullopt;
      return it->second[nth];
    };
    auto obj_ctr = [&](const store::Object& o) -> std::optional<Counter> {
      auto it = live.objects.find(o.name);
      return it == live.objects.end() ? std::nullopt : std::optional<Counter>(it->second);
    };
    // An orphan an earlier daemon left (persistence): its counters carry over like a held table's,
    // and when it holds what placement wants, adopting it (NEWTABLE with the owner flag) is all.
    bool adopt_as_is = false;
    if (held == committed_.end())
      if (auto o = orphans_.find(key); o != orphans_.end())
        if (auto l = read(key, o->second)) {
          bool same = o->second.fingerprint == digest(fp) && l->rules_per_chain.size() <= o->second.rules.size();
          for (const auto& [chain, handles] : o->second.rules) {
            auto n = l->rules_per_chain.find(chain);
            same = same && (n == l->rules_per_chain.end() ? 0 : n->second) == handles.size();
          }
          live = std::move(*l);
          adopt_as_is = same;
        }
    auto chain_ctr = [&](const store::Chain& c) -> std::optional<Counter> {
      if (c.hook->stats_pending) return Counter{.packets = c.hook->stats_pending->packets, .bytes = c.hook->stats_pending->bytes};
      if (auto it = live.chains.find(c.name); it != live.chains.end()) return it->second;
      if (c.hook->stats) return Counter{.packets = c.hook->stats->packets, .bytes = c.hook->stats->bytes};
      return std::nullopt;
    };
    auto rule_quota = [&](const store::Chain& c, const store::Rule& r, size_t nth) -> std::optional<uint64_t> {
      if (replaces_a_rule(c, r)) return std::nullopt;
      auto it = live.quotas.find(r.handle);
      if (it == live.quotas.end() || nth >= it->second.size()) return std::nullopt;
      return it->second[nth];
    };
    auto built = build_table(*t, p->second, rule_ctr, rule_quota, obj_ctr, chain_ctr, !state_file_.empty());
    if (!built) return std::unexpected(std::move(built).error());
    built->fingerprint = fp;
    built->head_shape = std::move(shape->head_shape);
    built->rule_shapes = std::move(shape->rule_shapes);
    if (adopt_as_is) {
      log::info("hybrid: adopting kernel table {} {} as it is", fam_name(key.first), key.second);
      built->kernel_handle = std::move(live.kernel_handle);
      built->kernel_handles_known = false;  // checked (counted) by incremental() when needed
      push(built->msgs.front());  // the NEWTABLE
      want[key] = std::move(*built);
      continue;
    }
    for (const std::string& chain : built->chain_order) {
      auto c = t->chain_by_name.equal_range(chain);
      uint64_t created = 0;
      for (auto it = c.first; it != c.second; ++it)
        if (it->second->vis.active_next()) created = it->second->created;
      whole_created[key].push_back(created);
    }
    wholes.push_back(key);
    rebuilt.insert(key);
    want[key] = std::move(*built);
  }
  // Tables re-created whole: first every table, then every chain in NEWCHAIN order, whichever
  // table it is in (the kernel registers a base chain's hook as it processes its NEWCHAIN, and at
  // equal priority the later one runs first: docs/offload.md "Order at a hook (ties)"), then the
  // rest of each table and its rules.
  const auto is_chain = [](const KernelMsg& m) {
    return (reinterpret_cast<const nlmsghdr*>(m.bytes.data())->nlmsg_type & 0xff) == NFT_MSG_NEWCHAIN;
  };
  for (const TableKey& key : wholes) {
    push(destroy_table(key));
    push(want[key].msgs.front());  // the NEWTABLE
  }
  std::vector<std::pair<uint64_t, const KernelMsg*>> chain_msgs;
  for (const TableKey& key : wholes) {
    size_t nth = 0;
    for (const KernelMsg& m : want[key].msgs)
      if (is_chain(m)) chain_msgs.emplace_back(whole_created[key].at(nth++), &m);
  }
  std::stable_sort(chain_msgs.begin(), chain_msgs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [created, m] : chain_msgs) push(*m);
  for (const TableKey& key : wholes) {
    const Held& built = want[key];
    for (size_t i = 1; i < built.msgs.size(); ++i)
      if (!is_chain(built.msgs[i])) push(built.msgs[i]);
    // Echoed, the kernel handles are known at once; a very large table is not (its echoes could
    // overrun the socket's receive buffer before the acks): one dump maps it when first needed.
    const bool echo = built.rule_msgs.size() <= kMaxEchoedRules;
    for (const std::string& chain : built.chain_order)
      for (uint64_t h : built.rules.at(chain))
        if (echo) push(echoed(built.rule_msgs.at(h)), std::pair(key, h));
        else push(built.rule_msgs.at(h));
  }
  for (const auto& [key, held] : committed_)
    if (!want.contains(key)) push(destroy_table(key));
  for (const auto& [key, orphan] : orphans_)
    if (!want.contains(key) && !committed_.contains(key)) push(destroy_table(key));
  if (batch.empty()) {
    orphans_.clear();
    return {};
  }
  NFBPF_TRYV(client_.batch(batch, [&](size_t index, const nlmsghdr* n) {
    if (index >= added.size() || !added[index]) return;
    if (const uint64_t kh = echoed_rule_handle(n)) want[added[index]->first].kernel_handle[added[index]->second] = kh;
  }));
  ++batches_;
  // A table whose every rule now has its kernel handle needs no dump before its next update.
  for (const TableKey& key : rebuilt) {
    Held& h = want[key];
    size_t rules = 0;
    for (const auto& [chain, handles] : h.rules) rules += handles.size();
    h.kernel_handles_known = h.kernel_handle.size() == rules;
  }
  applied_ = std::move(want);
  pending_ = true;
  return {};
}

void KernelTables::commit() {
  if (!pending_) return;
  committed_ = std::move(applied_);
  applied_.clear();
  pending_ = false;
  orphans_.clear();
  save();
}

void KernelTables::set_persistence(std::string state_file) {
  state_file_ = std::move(state_file);
  auto text = read_file(state_file_);
  if (!text) return;  // nothing saved
  auto j = nlohmann::json::parse(text->begin(), text->end(), nullptr, false);
  if (j.is_discarded() || !j.contains("tables")) {
    log::warn("hybrid: {} is unreadable: kernel tables left by an earlier daemon are replaced", state_file_);
    return;
  }
  try {
    for (const auto& t : j["tables"]) {
      Held h;
      h.fingerprint = t.at("digest").get<std::string>();
      for (const auto& [chain, handles] : t.at("rules").items()) h.rules[chain] = handles.get<std::vector<uint64_t>>();
      orphans_[TableKey{t.at("family").get<uint8_t>(), t.at("name").get<std::string>()}] = std::move(h);
    }
  } catch (const nlohmann::json::exception& e) {
    log::warn("hybrid: {} is malformed ({}): kernel tables left by an earlier daemon are replaced", state_file_, e.what());
    orphans_.clear();
  }
}

void KernelTables::save() const {
  if (state_file_.empty()) return;
  nlohmann::json tables = nlohmann::json::array();
  for (const auto& [key, held] : committed_)
    tables.push_back({{"family", key.first}, {"name", key.second}, {"digest", digest(held.fingerprint)},
                      {"rules", held.rules}});
  const std::string text = nlohmann::json{{"version", 1}, {"tables", std::move(tables)}}.dump();
  if (auto r = write_file_atomically(state_file_, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())); !r)
    log::error("hybrid: saving the kernel tables' state: {}", r.error().describe());
}

void KernelTables::remove_all() {
  std::vector<KernelMsg> batch;
  for (const auto& [key, held] : committed_) batch.push_back(destroy_table(key));
  if (!batch.empty())
    if (auto r = client_.batch(batch); !r) log::error("hybrid: removing the kernel tables: {}", r.error().describe());
  committed_.clear();
  if (!state_file_.empty()) ::unlink(state_file_.c_str());
  state_file_.clear();
}

void KernelTables::rollback() {
  if (!pending_) return;
  pending_ = false;
  std::vector<KernelMsg> batch;
  for (const auto& [key, held] : applied_)
    if (auto c = committed_.find(key); c == committed_.end() || c->second.fingerprint != held.fingerprint)
      batch.push_back(destroy_table(key));
  for (auto& [key, held] : committed_) {
    auto a = applied_.find(key);
    if (a != applied_.end() && a->second.fingerprint == held.fingerprint) {
      // Left as applied (the same rules; rebuilt when a rule was replaced by an identical one).
      held.kernel_handle = a->second.kernel_handle;
      held.kernel_handles_known = a->second.kernel_handles_known;
      continue;
    }
    if (a == applied_.end()) batch.push_back(destroy_table(key));
    for (const KernelMsg& m : all_msgs(held)) batch.push_back(m);
    held.kernel_handle.clear();  // re-created: new kernel handles (read again when needed)
    held.kernel_handles_known = false;
  }
  applied_.clear();
  if (auto r = client_.batch(batch); !r)
    log::error("hybrid: restoring the kernel tables after an aborted commit failed: {}", r.error().describe());
}

void KernelTables::refresh(unsigned parts, uint8_t family, const std::optional<std::string>& table) {
  live_.clear();
  for (const auto& [key, held] : committed_) {
    if ((family != NFPROTO_UNSPEC && key.first != family) || (table && key.second != *table)) continue;
    auto l = read(key, held, parts);
    if (!l) {
      log::warn("hybrid: reading kernel table {} {}: {}", fam_name(key.first), key.second, l.error().describe());
      continue;
    }
    live_[key] = std::move(*l);
  }
}

std::optional<Counter> KernelTables::rule_counter(uint8_t nfproto, std::string_view table, std::string_view,
                                                  uint64_t handle, size_t nth) const {
  auto t = live_.find(TableKey{nfproto, std::string(table)});
  if (t == live_.end()) return std::nullopt;
  auto r = t->second.counters.find(handle);
  if (r == t->second.counters.end() || nth >= r->second.size()) return std::nullopt;
  return r->second[nth];
}

std::optional<uint64_t> KernelTables::rule_quota_used(uint8_t nfproto, std::string_view table, std::string_view,
                                                     uint64_t handle, size_t nth) const {
  auto t = live_.find(TableKey{nfproto, std::string(table)});
  if (t == live_.end()) return std::nullopt;
  auto r = t->second.quotas.find(handle);
  if (r == t->second.quotas.end() || nth >= r->second.size()) return std::nullopt;
  return r->second[nth];
}

std::optional<Counter> KernelTables::chain_counters(uint8_t nfproto, std::string_view table, std::string_view chain) const {
  auto t = live_.find(TableKey{nfproto, std::string(table)});
  if (t == live_.end()) return std::nullopt;
  auto c = t->second.chains.find(std::string(chain));
  return c == t->second.chains.end() ? std::nullopt : std::optional<Counter>(c->second);
}

std::optional<Counter> KernelTables::object_counter(uint8_t nfproto, std::string_view table, std::string_view name) const {
  auto t = live_.find(TableKey{nfproto, std::string(table)});
  if (t == live_.end()) return std::nullopt;
  auto o = t->second.objects.find(std::string(name));
  return o == t->second.objects.end() ? std::nullopt : std::optional<Counter>(o->second);
}

bool KernelTables::reset_rule(uint8_t nfproto, const std::string& table, const std::string& chain, uint64_t handle) {
  const TableKey key{nfproto, table};
  auto held = committed_.find(key);
  if (held == committed_.end()) return false;
  auto l = read(key, held->second, kRules);
  if (!l) return false;
  auto kh = l->kernel_handle.find(handle);
  if (kh == l->kernel_handle.end()) return false;
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, kh->second);
  KernelMsg req = kernel_msg(NFT_MSG_GETRULE_RESET, nfproto, 0, 512,
                             [&](nlmsghdr* n) { nftnl_rule_nlmsg_build_payload(n, r.get()); }, "reset rule");
  if (auto s = client_.request(req); !s) {
    log::warn("hybrid: resetting kernel rule {} of {} {}: {}", kh->second, table, chain, s.error().describe());
    return false;
  }
  return true;
}

bool KernelTables::reset_object(uint8_t nfproto, const std::string& table, const std::string& name) {
  if (!committed_.contains({nfproto, table})) return false;
  ObjPtr o(nftnl_obj_alloc());
  nftnl_obj_set_str(o.get(), NFTNL_OBJ_TABLE, table.c_str());
  nftnl_obj_set_str(o.get(), NFTNL_OBJ_NAME, name.c_str());
  nftnl_obj_set_u32(o.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
  KernelMsg req = kernel_msg(NFT_MSG_GETOBJ_RESET, nfproto, 0, 512,
                             [&](nlmsghdr* n) { nftnl_obj_nlmsg_build_payload(n, o.get()); }, "reset counter object");
  // ENOENT: the object is not in the kernel table (only BPF rules use it).
  return static_cast<bool>(client_.request(req));
}

}  // namespace nfbpf::offload
