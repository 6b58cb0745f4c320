#include "nfnl-server/nftables/notify.h"

#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "nfnl-server/nftables/fill.h"

namespace nfbpf::nftables {

nfnl::Message notification_for(const Op& op, uint32_t genid) {
  const uint16_t f = op.origin.nlflags;
  FillHdr h{0, uint16_t(f & (NLM_F_CREATE | NLM_F_EXCL)), op.origin.portid, op.origin.seq, genid};
  switch (op.kind) {
    case OpKind::kUpdTable:
      // nf_tables_commit() drops a table update that changed no dormancy (owner adoption)
      // without a notification.
      if (!op.dormancy_changed) return {};
      h.event = NFT_MSG_NEWTABLE;
      return fill_table(h, *op.table);
    case OpKind::kNewTable:
      h.event = NFT_MSG_NEWTABLE;
      return fill_table(h, *op.table);
    case OpKind::kDelTable:
      h.event = NFT_MSG_DELTABLE;
      return fill_table(h, *op.table);
    case OpKind::kNewChain:
      h.event = NFT_MSG_NEWCHAIN;
      return fill_chain(h, *op.table, *op.chain);
    case OpKind::kUpdChain:
      h.event = NFT_MSG_NEWCHAIN;
      // nf_tables_chain_notify() with the transaction's hook list: a netdev chain's update
      // lists only the devices it added (an empty nest when it added none).
      return fill_chain(h, *op.table, *op.chain, &op.chain_devices);
    case OpKind::kDelChain:
      h.event = NFT_MSG_DELCHAIN;
      return fill_chain(h, *op.table, *op.chain);
    case OpKind::kNewRule: case OpKind::kDelRule: {
      h.event = op.kind == OpKind::kNewRule ? NFT_MSG_NEWRULE : NFT_MSG_DELRULE;
      if (f & (NLM_F_APPEND | NLM_F_REPLACE)) h.flags |= NLM_F_APPEND;
      uint64_t prev = 0;
      const auto& rules = op.chain->rules;
      if (op.kind == OpKind::kNewRule && op.rule != rules.begin() &&
          std::next(op.rule) != rules.end())
        prev = std::prev(op.rule)->handle;
      return fill_rule(h, *op.table, *op.chain, *op.rule, prev);
    }
    case OpKind::kNewSet: case OpKind::kDelSet:
      h.event = op.kind == OpKind::kNewSet ? NFT_MSG_NEWSET : NFT_MSG_DELSET;
      return fill_set(h, *op.table, *op.set);
    case OpKind::kNewElem: case OpKind::kUpdElem: case OpKind::kDelElem:
      h.event = op.kind == OpKind::kDelElem ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM;
      h.seq = 0;  // observed on 6.18: element notifications carry seq 0
      return fill_setelems(h, *op.table, *op.set, {&*op.elem});
    case OpKind::kNewObj: case OpKind::kUpdObj:
      h.event = NFT_MSG_NEWOBJ;
      return fill_obj(h, *op.table, *op.obj);
    case OpKind::kDelObj:
      h.event = NFT_MSG_DELOBJ;
      return fill_obj(h, *op.table, *op.obj);
    case OpKind::kCount: break;
  }
  return {};
}

}  // namespace nfbpf::nftables
