#include "nfnl-server/nftables/fill.h"

#include <arpa/inet.h>

#include <array>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "nfnl-server/nftables/chain_types.h"
#include "nfnl-server/nftables/expr_codec.h"
#include "nfnl-server/nftables/msg_writer.h"

namespace nfbpf::nftables {
namespace {

// Not in the 6.12 uapi headers this builds against.
constexpr uint16_t NFTA_SET_TYPE_ = 19;
constexpr uint16_t NFTA_SET_COUNT_ = 20;

MsgWriter start(const FillHdr& h, uint8_t family) {
  return MsgWriter(nft_type(h.event), h.flags, h.seq, h.portid, family, res_id_be(h.genid));
}

bool is_delete(uint16_t ev) {
  return ev == NFT_MSG_DELTABLE || ev == NFT_MSG_DELCHAIN || ev == NFT_MSG_DELSET ||
         ev == NFT_MSG_DESTROYTABLE || ev == NFT_MSG_DESTROYCHAIN || ev == NFT_MSG_DESTROYSET;
}


void put_data(MsgWriter& w, uint16_t type, const store::Data& d) {
  size_t n = w.nest_start(type);
  if (d.verdict) {
    size_t v = w.nest_start(NFTA_DATA_VERDICT);
    w.put_be32(NFTA_VERDICT_CODE, uint32_t(*d.verdict));
    if (!d.chain.empty()) w.put_str(NFTA_VERDICT_CHAIN, d.chain);
    w.nest_end(v);
  } else {
    w.put(NFTA_DATA_VALUE, d.value);
  }
  w.nest_end(n);
}

// What 6.18 reports as NFTA_SET_TYPE: the address of the backend's ops, so these strings are
// those of the kernel build the captures were recorded on (the pipapo ones are guesses).
const char* backend_name(store::SetBackend b) {
  static constexpr std::array<const char*, size_t(store::SetBackend::kCount)> kNames = {
      "0xffffffff82507dc0",  // hash_fast
      "0xffffffff82507e80",  // hash
      "0xffffffff82507f40",  // rhash
      "0xffffffff82508020",  // bitmap
      "0xffffffff825080e0",  // rbtree
      "0xffffffff825081a0",  // pipapo_avx2 (unverified)
      "0xffffffff82508260",  // pipapo (unverified)
  };
  return kNames[size_t(b)];
}

}  // namespace

uint16_t res_id_be(uint32_t genid) { return htons(uint16_t(genid & 0xffff)); }
uint16_t nft_type(uint16_t msg) { return uint16_t(NFNL_SUBSYS_NFTABLES << 8 | msg); }

nfnl::Message fill_table(const FillHdr& h, const store::Table& t) {
  MsgWriter w = start(h, t.family);
  w.put_str(NFTA_TABLE_NAME, t.name);
  w.put_be32(NFTA_TABLE_USE, t.use);
  w.put_be64(NFTA_TABLE_HANDLE, t.handle);
  if (!is_delete(h.event)) {
    w.put_be32(NFTA_TABLE_FLAGS, t.flags & NFT_TABLE_F_MASK);
    if (t.flags & NFT_TABLE_F_OWNER) w.put_be32(NFTA_TABLE_OWNER, t.owner);
    if (t.userdata) w.put(NFTA_TABLE_USERDATA, *t.userdata);
  }
  return w.finish();
}

nfnl::Message fill_chain(const FillHdr& h, const store::Table& t, const store::Chain& c,
                         const std::vector<std::string>* devices) {
  MsgWriter w = start(h, t.family);
  w.put_str(NFTA_CHAIN_TABLE, t.name);
  w.put_str(NFTA_CHAIN_NAME, c.name);
  w.put_be64(NFTA_CHAIN_HANDLE, c.handle);
  if (is_delete(h.event)) return w.finish();
  if (c.hook) {
    size_t hk = w.nest_start(NFTA_CHAIN_HOOK);
    w.put_be32(NFTA_HOOK_HOOKNUM, c.hook->hooknum);
    w.put_be32(NFTA_HOOK_PRIORITY, uint32_t(c.hook->priority));
    if (netdev_hook(t.family, c.hook->hooknum)) {
      const std::vector<std::string>& list = devices ? *devices : c.hook->devices;
      size_t devs = w.nest_start(NFTA_HOOK_DEVS);
      for (const auto& d : list) w.put_str(NFTA_DEVICE_NAME, d);
      w.nest_end(devs);
      if (list.size() == 1) w.put_str(NFTA_HOOK_DEV, list[0]);
    }
    w.nest_end(hk);
    w.put_be32(NFTA_CHAIN_POLICY, c.hook->policy);
    w.put_str(NFTA_CHAIN_TYPE, c.hook->type);
    if (c.hook->stats) {  // nft_dump_stats()
      size_t st = w.nest_start(NFTA_CHAIN_COUNTERS);
      w.put_be64(NFTA_COUNTER_PACKETS, c.hook->stats->packets);
      w.put_be64(NFTA_COUNTER_BYTES, c.hook->stats->bytes);
      w.nest_end(st);
    }
  }
  if (c.flags) w.put_be32(NFTA_CHAIN_FLAGS, c.flags);
  w.put_be32(NFTA_CHAIN_USE, c.use);
  if (c.userdata) w.put(NFTA_CHAIN_USERDATA, *c.userdata);
  return w.finish();
}

nfnl::Message fill_rule(const FillHdr& h, const store::Table& t, const store::Chain& c,
                        const store::Rule& r, uint64_t prev) {
  MsgWriter w = start(h, t.family);
  w.put_str(NFTA_RULE_TABLE, t.name);
  w.put_str(NFTA_RULE_CHAIN, c.name);
  w.put_be64(NFTA_RULE_HANDLE, r.handle);
  if (h.event != NFT_MSG_DELRULE && prev) w.put_be64(NFTA_RULE_POSITION, prev);
  size_t list = w.nest_start(NFTA_RULE_EXPRESSIONS);
  for (const auto& e : r.exprs) {
    size_t el = w.nest_start(NFTA_LIST_ELEM);
    dump_expr_body(w, e);
    w.nest_end(el);
  }
  w.nest_end(list);
  if (r.userdata) w.put(NFTA_RULE_USERDATA, *r.userdata);
  return w.finish();
}

nfnl::Message fill_set(const FillHdr& h, const store::Table& t, const store::Set& s) {
  MsgWriter w = start(h, t.family);
  w.put_str(NFTA_SET_TABLE, t.name);
  w.put_str(NFTA_SET_NAME, s.name);
  w.put_be64(NFTA_SET_HANDLE, s.handle);
  if (is_delete(h.event)) return w.finish();
  if (s.flags) w.put_be32(NFTA_SET_FLAGS, s.flags);
  w.put_be32(NFTA_SET_KEY_TYPE, s.key_type);
  w.put_be32(NFTA_SET_KEY_LEN, s.key_len);
  if (s.flags & NFT_SET_MAP) {
    w.put_be32(NFTA_SET_DATA_TYPE, s.data_type);
    w.put_be32(NFTA_SET_DATA_LEN, s.data_len);
  }
  if (s.flags & NFT_SET_OBJECT) w.put_be32(NFTA_SET_OBJ_TYPE, s.obj_type);
  if (s.timeout_ms && *s.timeout_ms) w.put_be64(NFTA_SET_TIMEOUT, *s.timeout_ms);
  if (s.gc_interval) w.put_be32(NFTA_SET_GC_INTERVAL, s.gc_interval);
  if (s.policy != NFT_SET_POL_PERFORMANCE) w.put_be32(NFTA_SET_POLICY, s.policy);
  if (s.userdata) w.put(NFTA_SET_USERDATA, *s.userdata);
  size_t desc = w.nest_start(NFTA_SET_DESC);
  if (s.size) w.put_be32(NFTA_SET_DESC_SIZE, s.size);
  if (s.field_len.size() > 1) {
    size_t concat = w.nest_start(NFTA_SET_DESC_CONCAT);
    for (uint32_t len : s.field_len) {
      size_t el = w.nest_start(NFTA_LIST_ELEM);
      w.put_be32(NFTA_SET_FIELD_LEN, len);
      w.nest_end(el);
    }
    w.nest_end(concat);
  }
  w.nest_end(desc);
  // nf_tables_fill_set_info() (6.16+): the backend ("%ps" of its ops: an address on this
  // kernel, so boot-specific) and nft_set_userspace_size() of the element count, which for
  // rbtree halves the start/end pairs.
  w.put_str(NFTA_SET_TYPE_, backend_name(s.backend));
  uint32_t count = 0;
  for (const auto& e : s.elems)
    if ((e.vis.cur || e.vis.next) && !(e.flags & NFT_SET_ELEM_CATCHALL)) count++;
  if (s.backend == store::SetBackend::kRbtree) count /= 2;
  w.put_be32(NFTA_SET_COUNT_, count);
  if (s.exprs.size() == 1) {
    size_t e = w.nest_start(NFTA_SET_EXPR);
    dump_expr_body(w, s.exprs[0]);
    w.nest_end(e);
  } else if (s.exprs.size() > 1) {
    size_t list = w.nest_start(NFTA_SET_EXPRESSIONS);
    for (const auto& x : s.exprs) {
      size_t el = w.nest_start(NFTA_LIST_ELEM);
      dump_expr_body(w, x);
      w.nest_end(el);
    }
    w.nest_end(list);
  }
  return w.finish();
}

nfnl::Message fill_setelems(const FillHdr& h, const store::Table& t, const store::Set& s,
                            const std::vector<const store::SetElem*>& elems) {
  MsgWriter w = start(h, t.family);
  w.put_str(NFTA_SET_ELEM_LIST_TABLE, t.name);
  w.put_str(NFTA_SET_ELEM_LIST_SET, s.name);
  size_t list = w.nest_start(NFTA_SET_ELEM_LIST_ELEMENTS);
  for (const store::SetElem* e : elems) {
    size_t el = w.nest_start(NFTA_LIST_ELEM);
    if (!e->key.empty()) put_data(w, NFTA_SET_ELEM_KEY, {e->key, {}, {}});
    if (e->key_end) put_data(w, NFTA_SET_ELEM_KEY_END, {*e->key_end, {}, {}});
    if (e->data) put_data(w, NFTA_SET_ELEM_DATA, *e->data);
    if (!e->exprs.empty()) {
      if (e->exprs.size() == 1) {
        size_t x = w.nest_start(NFTA_SET_ELEM_EXPR);
        dump_expr_body(w, e->exprs[0]);
        w.nest_end(x);
      } else {
        size_t x = w.nest_start(NFTA_SET_ELEM_EXPRESSIONS);
        for (const auto& ex : e->exprs) {
          size_t le = w.nest_start(NFTA_LIST_ELEM);
          dump_expr_body(w, ex);
          w.nest_end(le);
        }
        w.nest_end(x);
      }
    }
    if (e->objref) w.put_str(NFTA_SET_ELEM_OBJREF, *e->objref);
    if (e->has_flags) w.put_be32(NFTA_SET_ELEM_FLAGS, e->flags);
    // The timeout only when it differs from the set's; the time left, counting down.
    if (e->timeout_ms && *e->timeout_ms != s.timeout_ms.value_or(0))
      w.put_be64(NFTA_SET_ELEM_TIMEOUT, *e->timeout_ms);
    if (e->expires_at_ms) {
      const uint64_t now = store::now_ms();
      if (*e->expires_at_ms > now) w.put_be64(NFTA_SET_ELEM_EXPIRATION, *e->expires_at_ms - now);
    }
    if (e->userdata) w.put(NFTA_SET_ELEM_USERDATA, *e->userdata);
    w.nest_end(el);
  }
  w.nest_end(list);
  return w.finish();
}

nfnl::Message fill_obj(const FillHdr& h, const store::Table& t, const store::Object& o) {
  MsgWriter w = start(h, t.family);
  w.put_str(NFTA_OBJ_TABLE, t.name);
  w.put_str(NFTA_OBJ_NAME, o.name);
  w.put_be32(NFTA_OBJ_TYPE, o.type);
  w.put_be64(NFTA_OBJ_HANDLE, o.handle);
  if (h.event == NFT_MSG_DELOBJ || h.event == NFT_MSG_DESTROYOBJ) return w.finish();
  w.put_be32(NFTA_OBJ_USE, o.use);
  size_t d = w.nest_start(NFTA_OBJ_DATA);
  for (const auto& a : o.data) dump_attr(w, a);
  w.nest_end(d);
  if (o.userdata) w.put(NFTA_OBJ_USERDATA, *o.userdata);
  return w.finish();
}

nfnl::Message fill_gen(const FillHdr& h, uint32_t genid, uint32_t pid, const std::string& comm) {
  MsgWriter w = start(h, AF_UNSPEC);
  w.put_be32(NFTA_GEN_ID, genid);
  w.put_be32(NFTA_GEN_PROC_PID, pid);
  w.put_str(NFTA_GEN_PROC_NAME, comm);
  return w.finish();
}

nfnl::Message fill_done(uint32_t portid, uint32_t seq) {
  MsgWriter w = MsgWriter::raw(NLMSG_DONE, NLM_F_MULTI, seq, portid);
  const uint8_t zero[4] = {};
  w.append_raw(zero);
  return w.finish();
}

}  // namespace nfbpf::nftables
