// NEWOBJ / DELOBJ / DESTROYOBJ and GETOBJ (nf_tables_newobj, nf_tables_delobj,
// nf_tables_dump_obj): stateful objects stored with their data in dump form.
#include <sys/socket.h>
#include <linux/netfilter/nf_tables.h>

#include "nfnl-server/nftables/expr_codec.h"
#include "nfnl-server/nftables/fill.h"
#include "nfnl-server/nftables/handlers.h"

namespace nfbpf::nftables {
namespace {

// Object types whose ->update exists: re-adding one stages an update instead of a no-op.
bool updatable(uint32_t type) { return type == NFT_OBJECT_QUOTA || type == NFT_OBJECT_SYNPROXY; }

}  // namespace

Result<void> new_obj(BatchCtx& c) {
  const Request& r = c.req;
  if (!r[NFTA_OBJ_TYPE] || !r[NFTA_OBJ_NAME] || !r[NFTA_OBJ_DATA]) return fail(EINVAL, "");
  auto table = lookup_table(c.rs, r[NFTA_OBJ_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_OBJ_TABLE]);
  store::Table* t = *table;
  const uint32_t type = r[NFTA_OBJ_TYPE]->be32();
  ExprContext ectx{t, nullptr, &c.txn, nullptr, nullptr, nullptr};
  if (store::Object* o = t->find_object(r[NFTA_OBJ_NAME]->str(), type)) {
    if (r.flag(NLM_F_EXCL)) return fail_at(EEXIST, r[NFTA_OBJ_NAME]);
    if (r.flag(NLM_F_REPLACE)) return fail(EOPNOTSUPP, "");
    if (!updatable(type)) return {};
    NFBPF_TRY_ASSIGN(data, parse_object_data(type, r[NFTA_OBJ_DATA], ectx));
    Op op{OpKind::kUpdObj, c.origin};
    op.table = t;
    op.obj = o;
    op.obj_data = std::move(data);
    c.txn.add(std::move(op));
    return {};
  }
  NFBPF_TRY_ASSIGN(data, parse_object_data(type, r[NFTA_OBJ_DATA], ectx));
  auto o = std::make_unique<store::Object>();
  o->type = type;
  o->data = std::move(data);
  o->handle = t->alloc_handle();
  o->name = std::string(r[NFTA_OBJ_NAME]->str());
  if (r[NFTA_OBJ_USERDATA])
    o->userdata.emplace(r[NFTA_OBJ_USERDATA]->payload.begin(), r[NFTA_OBJ_USERDATA]->payload.end());
  Op op{OpKind::kNewObj, c.origin};
  op.table = t;
  op.obj = o.get();
  t->objects.push_back(std::move(o));
  t->use++;
  c.txn.add(std::move(op));
  return {};
}

Result<void> del_obj(BatchCtx& c) {
  const Request& r = c.req;
  if (!r[NFTA_OBJ_TYPE] || (!r[NFTA_OBJ_NAME] && !r[NFTA_OBJ_HANDLE])) return fail(EINVAL, "");
  auto table = lookup_table(c.rs, r[NFTA_OBJ_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_OBJ_TABLE]);
  store::Table* t = *table;
  const uint32_t type = r[NFTA_OBJ_TYPE]->be32();
  const Attr* attr;
  store::Object* o;
  if (r[NFTA_OBJ_HANDLE]) {
    attr = r[NFTA_OBJ_HANDLE];
    o = t->find_object_by_handle(attr->be64(), type);
  } else {
    attr = r[NFTA_OBJ_NAME];
    o = t->find_object(attr->str(), type);
  }
  if (!o) {
    if (r.type == NFT_MSG_DESTROYOBJ) return {};
    return fail_at(ENOENT, attr);
  }
  if (o->use > 0) return fail_at(EBUSY, attr);
  o->vis.next = false;
  t->use--;
  Op op{OpKind::kDelObj, c.origin};
  op.table = t;
  op.obj = o;
  c.txn.add(std::move(op));
  return {};
}

Result<std::vector<nfnl::Message>> get_obj(const GetCtx& c) {
  std::vector<nfnl::Message> out;
  const Request& r = c.req;
  const bool dump = (r.hdr.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  if (dump) {
    for (const auto& t : c.rs.tables) {
      if (!t->vis.cur || (r.family != AF_UNSPEC && r.family != t->family)) continue;
      if (r[NFTA_OBJ_TABLE] && r[NFTA_OBJ_TABLE]->str() != t->name) continue;
      for (const auto& o : t->objects) {
        if (!o->vis.cur) continue;
        if (r[NFTA_OBJ_TYPE] && r[NFTA_OBJ_TYPE]->be32() != o->type) continue;
        out.push_back(fill_obj({NFT_MSG_NEWOBJ, NLM_F_MULTI | NLM_F_APPEND, c.portid, r.hdr.nlmsg_seq, c.rs.genid}, *t, *o));
      }
    }
    out.push_back(fill_done(c.portid, r.hdr.nlmsg_seq));
    return out;
  }
  if (!r[NFTA_OBJ_NAME] || !r[NFTA_OBJ_TYPE]) return fail(EINVAL, "");
  store::Table* t = nullptr;
  if (r[NFTA_OBJ_TABLE])
    for (const auto& tt : c.rs.tables)
      if (tt->vis.cur && tt->family == r.family && tt->name == r[NFTA_OBJ_TABLE]->str()) t = tt.get();
  if (!t) return fail_at(r[NFTA_OBJ_TABLE] ? ENOENT : EINVAL, r[NFTA_OBJ_TABLE]);
  for (const auto& o : t->objects)
    if (o->vis.cur && o->type == r[NFTA_OBJ_TYPE]->be32() && o->name == r[NFTA_OBJ_NAME]->str()) {
      out.push_back(fill_obj({NFT_MSG_NEWOBJ, 0, c.portid, r.hdr.nlmsg_seq, c.rs.genid}, *t, *o));
      return out;
    }
  return fail_at(ENOENT, r[NFTA_OBJ_NAME]);
}

}  // namespace nfbpf::nftables
