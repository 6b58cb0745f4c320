// NEWTABLE / DELTABLE / DESTROYTABLE (nf_tables_newtable, nf_tables_deltable, nft_flush).
#include <linux/netfilter.h>
#include <sys/socket.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nfnl-server/nftables/handlers.h"
#include "nfnl-server/nftables/kernel_caps.h"

namespace nfbpf::nftables {

bool supported_family(uint8_t f) {
  // The families nf_tables knows, minus those this kernel was built without (kernel_caps.h).
  return (f == NFPROTO_INET || f == NFPROTO_IPV4 || f == NFPROTO_ARP || f == NFPROTO_NETDEV ||
          f == NFPROTO_BRIDGE || f == NFPROTO_IPV6) &&
         kernel_caps().has_family(f);
}

Result<store::Table*> lookup_table(const store::Ruleset& rs, const Attr* name, uint8_t family,
                                   uint32_t portid) {
  if (!name) return fail(EINVAL, "");
  store::Table* t = rs.find_table(family, name->str());
  if (!t) return fail(ENOENT, "");
  if ((t->flags & NFT_TABLE_F_OWNER) && portid && t->owner != portid) return fail(EPERM, "");
  return t;
}

Result<void> new_table(BatchCtx& c) {
  const Request& r = c.req;
  if (!supported_family(r.family)) return fail(EOPNOTSUPP, "");
  const Attr* name = r[NFTA_TABLE_NAME];
  auto found = lookup_table(c.rs, name, r.family, r.peer->portid);
  if (found) {
    store::Table* t = *found;
    if (r.flag(NLM_F_EXCL)) return fail_at(EEXIST, name);
    if (r.flag(NLM_F_REPLACE)) return fail(EOPNOTSUPP, "");
    // nf_tables_updtable()
    if (!r[NFTA_TABLE_FLAGS]) return {};
    uint32_t flags = r[NFTA_TABLE_FLAGS]->be32();
    if (flags & ~NFT_TABLE_F_MASK) return fail(EOPNOTSUPP, "");
    if (flags == (t->flags & NFT_TABLE_F_MASK)) return {};
    // An owned table keeps its owner flag; only an orphan (PERSIST left behind by its closed
    // owner) may be adopted by setting OWNER; PERSIST never changes. (An owner can therefore
    // not toggle dormancy of its own table: it would have to send OWNER, which only an orphan
    // accepts; verified on 6.18: EOPNOTSUPP.)
    const bool orphan = (t->flags & (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST)) == NFT_TABLE_F_PERSIST;
    if (((t->flags & NFT_TABLE_F_OWNER) && !(flags & NFT_TABLE_F_OWNER)) ||
        ((flags & NFT_TABLE_F_OWNER) && !orphan) || ((flags ^ t->flags) & NFT_TABLE_F_PERSIST))
      return fail(EOPNOTSUPP, "");
    // "No dormant off/on/off/on games in single transaction."
    for (const Op& op : c.txn.ops())
      if (op.kind == OpKind::kUpdTable && op.table == t && op.dormancy_changed)
        return fail(EINVAL, "");
    Op op{OpKind::kUpdTable, c.origin};
    op.table = t;
    op.old_table_flags = t->flags;
    op.old_table_owner = t->owner;
    if ((flags ^ t->flags) & NFT_TABLE_F_DORMANT) {
      t->flags ^= NFT_TABLE_F_DORMANT;
      op.dormancy_changed = true;
    }
    if ((flags & NFT_TABLE_F_OWNER) && !(t->flags & NFT_TABLE_F_OWNER)) {
      t->flags |= NFT_TABLE_F_OWNER;
      t->owner = r.peer->portid;
    }
    c.txn.add(op);
    return {};
  }
  if (found.error().err != ENOENT) return std::unexpected(std::move(found).error());
  uint32_t flags = 0;
  if (r[NFTA_TABLE_FLAGS]) {
    flags = r[NFTA_TABLE_FLAGS]->be32();
    if (flags & ~NFT_TABLE_F_MASK) return fail(EOPNOTSUPP, "");
  }
  auto t = std::make_unique<store::Table>();
  t->family = r.family;
  t->name = std::string(name->str());
  t->flags = flags;
  if (r[NFTA_TABLE_USERDATA])
    t->userdata.emplace(r[NFTA_TABLE_USERDATA]->payload.begin(),
                        r[NFTA_TABLE_USERDATA]->payload.end());
  t->handle = ++c.rs.table_handle;
  if (flags & NFT_TABLE_F_OWNER) t->owner = r.peer->portid;
  Op op{OpKind::kNewTable, c.origin};
  op.table = t.get();
  c.rs.tables.push_back(std::move(t));
  c.txn.add(op);
  return {};
}

Result<void> flush_table(BatchCtx& c, store::Table* t) {
  for (auto& ch : t->chains) {
    if (!ch->vis.next) continue;
    for (auto it = ch->rules.begin(); it != ch->rules.end(); ++it)
      if (it->vis.next) stage_delete_rule(c.txn, c.origin, t, ch.get(), it);
  }
  for (auto& s : t->sets) {
    if (!s->vis.next) continue;
    if (s->anonymous() && s->use > 0) continue;
    s->vis.next = false;
    set_elem_refs(*s, -1);
    if (!s->anonymous()) t->use--;
    Op op{OpKind::kDelSet, c.origin};
    op.table = t;
    op.set = s.get();
    c.txn.add(op);
  }
  for (auto& o : t->objects) {
    if (!o->vis.next) continue;
    o->vis.next = false;
    t->use--;
    Op op{OpKind::kDelObj, c.origin};
    op.table = t;
    op.obj = o.get();
    c.txn.add(std::move(op));
  }
  for (auto& ch : t->chains) {
    if (!ch->vis.next) continue;
    if (ch->use > 0) return fail(EBUSY, "");
    ch->vis.next = false;
    t->use--;
    Op op{OpKind::kDelChain, c.origin};
    op.table = t;
    op.chain = ch.get();
    c.txn.add(op);
  }
  t->vis.next = false;
  Op op{OpKind::kDelTable, c.origin};
  op.table = t;
  c.txn.add(op);
  return {};
}

Result<void> del_table(BatchCtx& c) {
  const Request& r = c.req;
  const Attr* attr = nullptr;
  if (r.family == AF_UNSPEC || (!r[NFTA_TABLE_NAME] && !r[NFTA_TABLE_HANDLE])) {
    // nft_flush(): every table of the family (all families for AF_UNSPEC).
    std::vector<store::Table*> victims;
    for (auto& t : c.rs.tables)
      if (t->vis.next && (r.family == AF_UNSPEC || t->family == r.family)) {
        if ((t->flags & NFT_TABLE_F_OWNER) && t->owner != r.peer->portid) continue;
        victims.push_back(t.get());
      }
    for (store::Table* t : victims) NFBPF_TRYV(flush_table(c, t));
    return {};
  }
  store::Table* t = nullptr;
  if (r[NFTA_TABLE_HANDLE]) {
    attr = r[NFTA_TABLE_HANDLE];
    t = c.rs.find_table_by_handle(r.family, attr->be64());
    if (t && (t->flags & NFT_TABLE_F_OWNER) && t->owner != r.peer->portid)
      return fail_at(EPERM, attr);
    if (!t) {
      if (r.type == NFT_MSG_DESTROYTABLE) return {};
      return fail_at(ENOENT, attr);
    }
  } else {
    attr = r[NFTA_TABLE_NAME];
    auto found = lookup_table(c.rs, attr, r.family, r.peer->portid);
    if (!found) {
      if (found.error().err == ENOENT && r.type == NFT_MSG_DESTROYTABLE) return {};
      return fail_at(found.error().err, attr);
    }
    t = *found;
  }
  if (r.flag(NLM_F_NONREC) && t->use > 0) return fail(EBUSY, "");
  return flush_table(c, t);
}

}  // namespace nfbpf::nftables
