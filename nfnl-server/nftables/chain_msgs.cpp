// NEWCHAIN / DELCHAIN / DESTROYCHAIN (nf_tables_newchain, nf_tables_addchain,
// nf_tables_updchain, nf_tables_delchain).
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>

#include "nfnl-server/nftables/chain_types.h"
#include "nfnl-server/nftables/handlers.h"
#include "nfnl-server/nftables/policies.h"

namespace nfbpf::nftables {
namespace {

constexpr uint32_t kChainFlags = NFT_CHAIN_BASE | NFT_CHAIN_HW_OFFLOAD | NFT_CHAIN_BINDING;
constexpr uint32_t kMaxHooks = NF_INET_NUMHOOKS + 1;

// nft_chain_parse_netdev(): NFTA_HOOK_DEVS (names, no duplicates) or a single NFTA_HOOK_DEV.
Result<std::vector<std::string>> parse_devices(const AttrTable& ha) {
  std::vector<std::string> out;
  if (ha[NFTA_HOOK_DEVS]) {
    size_t rest = 0;
    for (const Attr& d : split_attrs(ha[NFTA_HOOK_DEVS]->payload,
                                     ha[NFTA_HOOK_DEVS]->offset + NLA_HDRLEN, &rest)) {
      if (d.type != NFTA_DEVICE_NAME) return fail(EINVAL, "");
      if (d.payload.empty() || d.str().size() >= 16) return fail_at(ENAMETOOLONG, &d);
      for (const auto& have : out)
        if (have == d.str()) return fail_at(EEXIST, &d);
      out.emplace_back(d.str());
    }
    if (out.empty()) return fail(EINVAL, "");
  } else if (ha[NFTA_HOOK_DEV]) {
    out.emplace_back(ha[NFTA_HOOK_DEV]->str());
  } else {
    return fail(EINVAL, "");
  }
  return out;
}

// nft_chain_parse_hook() for a new base chain.
Result<store::BaseHook> parse_new_hook(const Request& r) {
  const Attr* hook_attr = r[NFTA_CHAIN_HOOK];
  NFBPF_TRY_ASSIGN(ha, parse_nested(*hook_attr, policy::hook()));
  if (!ha[NFTA_HOOK_HOOKNUM] || !ha[NFTA_HOOK_PRIORITY]) return fail_at(ENOENT, hook_attr);
  store::BaseHook h;
  h.hooknum = ha[NFTA_HOOK_HOOKNUM]->be32();
  h.priority = int32_t(ha[NFTA_HOOK_PRIORITY]->be32());
  const ChainType* type = default_chain_type(r.family);
  if (r[NFTA_CHAIN_TYPE]) {
    type = find_chain_type(r.family, r[NFTA_CHAIN_TYPE]->str());
    if (!type) return fail_at(ENOENT, r[NFTA_CHAIN_TYPE]);
  }
  if (!type) return fail(EOPNOTSUPP, "");
  if (h.hooknum >= kMaxHooks || !(type->hook_mask & (1u << h.hooknum)))
    return fail(EOPNOTSUPP, "");
  // NF_IP_PRI_CONNTRACK (-200): nat chains must run after conntrack.
  if (type->nat && h.priority <= -200) return fail_at(EOPNOTSUPP, ha[NFTA_HOOK_PRIORITY]);
  h.type = std::string(type->name);
  if (netdev_hook(r.family, h.hooknum)) {
    NFBPF_TRY_ASSIGN(devs, parse_devices(ha));
    h.devices = std::move(devs);
  } else if (ha[NFTA_HOOK_DEV] || ha[NFTA_HOOK_DEVS]) {
    return fail(EOPNOTSUPP, "");
  }
  return h;
}

// nft_stats_alloc(): both counters are required; parsed without extack, as the kernel does.
Result<store::BaseHook::Stats> parse_chain_counters(const Attr& attr) {
  auto tb = parse_nested(attr, policy::chain_counters());
  if (!tb) return fail(tb.error().err, "");
  if (!(*tb)[NFTA_COUNTER_BYTES] || !(*tb)[NFTA_COUNTER_PACKETS]) return fail(EINVAL, "");
  return store::BaseHook::Stats{(*tb)[NFTA_COUNTER_PACKETS]->be64(),
                                (*tb)[NFTA_COUNTER_BYTES]->be64()};
}

Result<void> add_chain(BatchCtx& c, store::Table* t, uint32_t policy, uint32_t flags) {
  const Request& r = c.req;
  auto ch = std::make_unique<store::Chain>();
  if (r[NFTA_CHAIN_HOOK]) {
    if (flags & NFT_CHAIN_BINDING) return fail(EOPNOTSUPP, "");
    NFBPF_TRY_ASSIGN(hook, parse_new_hook(r));
    if (r[NFTA_CHAIN_COUNTERS]) {  // a regular chain's counters are ignored, as the kernel does
      NFBPF_TRY_ASSIGN(stats, parse_chain_counters(*r[NFTA_CHAIN_COUNTERS]));
      hook.stats = stats;
    }
    if (flags & NFT_CHAIN_HW_OFFLOAD) return fail(EOPNOTSUPP, "");
    ch->hook = std::move(hook);
    ch->hook->policy_next = policy;
    ch->flags = flags | NFT_CHAIN_BASE;
  } else {
    if (flags & NFT_CHAIN_BASE) return fail(EINVAL, "");
    if (flags & NFT_CHAIN_HW_OFFLOAD) return fail(EOPNOTSUPP, "");
    ch->flags = flags;
  }
  ch->handle = t->alloc_handle();
  ch->created = ++c.rs.chain_clock;
  if (r[NFTA_CHAIN_NAME]) {
    ch->name = std::string(r[NFTA_CHAIN_NAME]->str());
  } else {
    if (!(flags & NFT_CHAIN_BINDING)) return fail(EINVAL, "");
    static uint64_t binding_id = 0;
    ch->name = "__chain" + std::to_string(++binding_id);
  }
  if (r[NFTA_CHAIN_USERDATA])
    ch->userdata.emplace(r[NFTA_CHAIN_USERDATA]->payload.begin(),
                         r[NFTA_CHAIN_USERDATA]->payload.end());
  if (r[NFTA_CHAIN_ID]) ch->batch_id = r[NFTA_CHAIN_ID]->be32();
  Op op{OpKind::kNewChain, c.origin};
  op.table = t;
  op.chain = ch.get();
  if (ch->hook) op.chain_policy = policy;
  t->chain_by_name.emplace(ch->name, ch.get());
  t->chains.push_back(std::move(ch));
  t->use++;
  c.txn.add(op);
  return {};
}

Result<void> update_chain(BatchCtx& c, store::Table* t, store::Chain* ch,
                          std::optional<uint32_t> policy, uint32_t flags, const Attr* attr) {
  const Request& r = c.req;
  std::vector<std::string> added_devices;
  if (ch->flags ^ flags) return fail(EOPNOTSUPP, "");
  if (r[NFTA_CHAIN_HOOK]) {
    if (!ch->is_base()) return fail_at(EEXIST, attr);
    NFBPF_TRY_ASSIGN(ha, parse_nested(*r[NFTA_CHAIN_HOOK], policy::hook()));
    // nft_chain_parse_hook() for an existing base chain: a different hook or priority is
    // EOPNOTSUPP (verified on 6.18).
    if (ha[NFTA_HOOK_HOOKNUM] && ha[NFTA_HOOK_HOOKNUM]->be32() != ch->hook->hooknum)
      return fail(EOPNOTSUPP, "");
    if (ha[NFTA_HOOK_PRIORITY] && int32_t(ha[NFTA_HOOK_PRIORITY]->be32()) != ch->hook->priority)
      return fail(EOPNOTSUPP, "");
    if (r[NFTA_CHAIN_TYPE] && r[NFTA_CHAIN_TYPE]->str() != ch->hook->type)
      return fail_at(EEXIST, attr);
    if (netdev_hook(t->family, ch->hook->hooknum) && (ha[NFTA_HOOK_DEVS] || ha[NFTA_HOOK_DEV])) {
      // nf_tables_updchain(): devices the chain has already are dropped from the request, the
      // others join it (the kernel splices them in front of the chain's list, so the newest
      // come first) and the NEWCHAIN notification lists only them.
      NFBPF_TRY_ASSIGN(devs, parse_devices(ha));
      for (auto& d : devs)
        if (std::find(ch->hook->devices.begin(), ch->hook->devices.end(), d) == ch->hook->devices.end())
          added_devices.push_back(std::move(d));
    }
  }
  std::optional<std::string> rename;
  if (r[NFTA_CHAIN_HANDLE] && r[NFTA_CHAIN_NAME]) {
    // Rename (nf_tables_updchain()): the new name must be free now and not be the target of
    // another rename in this batch; it takes effect at commit, so later messages of the batch
    // still find the chain under its old name.
    const std::string_view name = r[NFTA_CHAIN_NAME]->str();
    if (t->find_chain(name)) return fail_at(EEXIST, r[NFTA_CHAIN_NAME]);
    if (pending_chain_name(c.txn, t, name)) return fail_at(EEXIST, r[NFTA_CHAIN_NAME]);
    rename.emplace(name);
  }
  std::optional<store::BaseHook::Stats> stats;
  if (r[NFTA_CHAIN_COUNTERS]) {
    if (!ch->is_base()) return fail(EOPNOTSUPP, "");
    NFBPF_TRY_ASSIGN(parsed, parse_chain_counters(*r[NFTA_CHAIN_COUNTERS]));
    stats = parsed;
  }
  Op op{OpKind::kUpdChain, c.origin};
  op.table = t;
  op.chain = ch;
  op.chain_policy = policy;
  op.chain_name = std::move(rename);
  if (!added_devices.empty()) {
    // Applied when staged (prepare() sees the devices), taken out again on abort.
    ch->hook->devices.insert(ch->hook->devices.begin(), added_devices.begin(), added_devices.end());
    op.chain_devices = std::move(added_devices);
  }
  if (policy && ch->hook) ch->hook->policy_next = *policy;
  op.chain_stats = stats;
  if (stats && ch->hook) ch->hook->stats_pending = stats;
  c.txn.add(op);
  return {};
}

}  // namespace

Result<void> new_chain(BatchCtx& c) {
  const Request& r = c.req;
  auto table = lookup_table(c.rs, r[NFTA_CHAIN_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_CHAIN_TABLE]);
  store::Table* t = *table;
  store::Chain* ch = nullptr;
  const Attr* attr = r[NFTA_CHAIN_NAME];
  if (r[NFTA_CHAIN_HANDLE]) {
    ch = t->find_chain_by_handle(r[NFTA_CHAIN_HANDLE]->be64());
    if (!ch) return fail_at(ENOENT, r[NFTA_CHAIN_HANDLE]);
    attr = r[NFTA_CHAIN_HANDLE];
  } else if (r[NFTA_CHAIN_NAME]) {
    ch = t->find_chain(r[NFTA_CHAIN_NAME]->str());
  } else if (!r[NFTA_CHAIN_ID]) {
    return fail(EINVAL, "");
  }
  std::optional<uint32_t> policy;
  if (r[NFTA_CHAIN_POLICY]) {
    if (ch && !ch->is_base()) return fail_at(EOPNOTSUPP, r[NFTA_CHAIN_POLICY]);
    if (!ch && !r[NFTA_CHAIN_HOOK]) return fail_at(EOPNOTSUPP, r[NFTA_CHAIN_POLICY]);
    policy = r[NFTA_CHAIN_POLICY]->be32();
    if (*policy != NF_DROP && *policy != NF_ACCEPT) return fail(EINVAL, "");
  }
  uint32_t flags = 0;
  if (r[NFTA_CHAIN_FLAGS]) flags = r[NFTA_CHAIN_FLAGS]->be32();
  else if (ch) flags = ch->flags;
  if (flags & ~kChainFlags) return fail(EOPNOTSUPP, "");
  if (ch) {
    if (ch->flags & NFT_CHAIN_BINDING) return fail(EINVAL, "");
    if (r.flag(NLM_F_EXCL)) return fail_at(EEXIST, attr);
    if (r.flag(NLM_F_REPLACE)) return fail(EOPNOTSUPP, "");
    flags |= ch->flags & NFT_CHAIN_BASE;
    return update_chain(c, t, ch, policy, flags, attr);
  }
  return add_chain(c, t, policy.value_or(NF_ACCEPT), flags);
}

Result<void> del_chain(BatchCtx& c) {
  const Request& r = c.req;
  auto table = lookup_table(c.rs, r[NFTA_CHAIN_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_CHAIN_TABLE]);
  store::Table* t = *table;
  const Attr* attr;
  store::Chain* ch = nullptr;
  if (r[NFTA_CHAIN_HANDLE]) {
    attr = r[NFTA_CHAIN_HANDLE];
    ch = t->find_chain_by_handle(attr->be64());
  } else {
    attr = r[NFTA_CHAIN_NAME];
    if (!attr) return fail(EINVAL, "");
    ch = t->find_chain(attr->str());
  }
  if (!ch) {
    if (r.type == NFT_MSG_DESTROYCHAIN) return {};
    return fail_at(ENOENT, attr);
  }
  if (ch->flags & NFT_CHAIN_BINDING) return fail(EOPNOTSUPP, "");
  if (r[NFTA_CHAIN_HOOK]) {
    // nf_tables_delchain(): a hook only means something for netdev base chains (remove those
    // devices: nft_delchain_hook, not done here); on any other chain it is ignored and the
    // chain deleted. iptables-nft -X sends the hook of the chains it deletes.
    if (r.type == NFT_MSG_DESTROYCHAIN || (ch->flags & NFT_CHAIN_HW_OFFLOAD))
      return fail(EOPNOTSUPP, "");
    if (ch->is_base() && netdev_hook(t->family, ch->hook->hooknum)) return fail(EOPNOTSUPP, "");
  }
  if (r.flag(NLM_F_NONREC) && ch->use > 0) return fail(EBUSY, "");
  uint32_t use = ch->use;
  for (auto it = ch->rules.begin(); it != ch->rules.end(); ++it) {
    if (!it->vis.next) continue;
    use--;
    stage_delete_rule(c.txn, c.origin, t, ch, it);
  }
  if (use > 0) return fail_at(EBUSY, attr);
  ch->vis.next = false;
  t->use--;
  Op op{OpKind::kDelChain, c.origin};
  op.table = t;
  op.chain = ch;
  c.txn.add(op);
  return {};
}

}  // namespace nfbpf::nftables
