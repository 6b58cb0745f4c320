#include "nfnl-server/offload/attach_plan.h"

#include <linux/netfilter.h>
#include <net/if.h>

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "translate/ir/fields.h"

namespace nfbpf::offload {

namespace flavor = codegen::flavor;

codegen::flavor::AttachPoint AttachKey::point() const {
  if (flavor == flavor::Flavor::kNetfilter) return flavor::AttachPoint::netfilter_hook(pf, hooknum, priority);
  return flavor::AttachPoint::tcx(flavor, ifindex);
}

std::string AttachKey::describe() const {
  if (flavor == flavor::Flavor::kNetfilter)
    return fmt::format("netfilter {} hook {} priority {}", pf == NFPROTO_IPV6 ? "ipv6" : "ipv4", hooknum, priority);
  return fmt::format("{} ifindex {}", flavor::flavor_name(flavor), ifindex);
}

Result<int> resolve_device_in_current_netns(const std::string& name) {
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) return failf(ENODEV, "device {} does not exist", name);
  return static_cast<int>(idx);
}

namespace {

Result<uint32_t> inet_hooknum(ir::Hook h) {
  switch (h) {
    case ir::Hook::kPrerouting: return NF_INET_PRE_ROUTING;
    case ir::Hook::kInput: return NF_INET_LOCAL_IN;
    case ir::Hook::kForward: return NF_INET_FORWARD;
    case ir::Hook::kOutput: return NF_INET_LOCAL_OUT;
    case ir::Hook::kPostrouting: return NF_INET_POST_ROUTING;
    default: break;
  }
  return failf(EOPNOTSUPP, "hook {} is not offloaded for this family", ir::to_string(h));
}

Result<std::vector<AttachKey>> keys_for(const ir::Table& t, const ir::Chain& c, flavor::Flavor* fl,
                                        const DeviceResolver& devices) {
  const ir::BaseHook& b = *c.base;
  std::vector<AttachKey> out;
  // netdev ingress/egress, and inet ingress (nft_chain_filter's inet ingress hook runs at the
  // device's ingress for IPv4/IPv6 frames; the inet prologue skips the others and drops invalid
  // IP headers as nft_do_chain_inet_ingress does).
  if (t.family == ir::Family::kNetdev || (t.family == ir::Family::kInet && b.hook == ir::Hook::kIngress)) {
    if (b.hook != ir::Hook::kIngress && b.hook != ir::Hook::kEgress)
      return failf(EOPNOTSUPP, "netdev hook {} is not offloaded", ir::to_string(b.hook));
    *fl = b.hook == ir::Hook::kIngress ? flavor::Flavor::kTcxIngress : flavor::Flavor::kTcxEgress;
    for (const auto& dev : b.devices) {
      auto idx = devices(dev);
      if (!idx) return std::unexpected(std::move(idx).error());
      out.push_back(AttachKey{.flavor = *fl, .ifindex = *idx});
    }
    return out;
  }
  auto hooknum = inet_hooknum(b.hook);
  if (!hooknum) return std::unexpected(std::move(hooknum).error());
  *fl = flavor::Flavor::kNetfilter;
  auto key = [&](uint32_t pf) {
    return AttachKey{.flavor = *fl, .pf = pf, .hooknum = *hooknum, .priority = b.priority};
  };
  if (t.family == ir::Family::kIp || t.family == ir::Family::kInet) out.push_back(key(NFPROTO_IPV4));
  if (t.family == ir::Family::kIp6 || t.family == ir::Family::kInet) out.push_back(key(NFPROTO_IPV6));
  if (out.empty()) return failf(EOPNOTSUPP, "family {} is not offloaded", ir::to_string(t.family));
  return out;
}

}  // namespace

Result<std::vector<ChainPlan>> plan_attachments(const ir::Ruleset& rs, const DeviceResolver& devices) {
  constexpr uint32_t kDormant = 0x1;  // NFT_TABLE_F_DORMANT: the kernel registers no hooks
  std::vector<ChainPlan> out;
  for (size_t ti = 0; ti < rs.tables.size(); ++ti) {
    const ir::Table& t = rs.tables[ti];
    if (t.flags & kDormant) continue;
    for (const ir::Chain& c : t.chains) {
      if (!c.base) continue;
      ChainPlan plan{.table = ti, .chain = c.name, .priority = c.base->priority,
                     .where = fmt::format("{} {} {}", ir::to_string(t.family), t.name, c.name)};
      if (c.base->type == ir::ChainType::kNat)
        return failf(EOPNOTSUPP,
                     "chain {}: type nat is not offloaded (address translation needs conntrack "
                     "bindings a BPF netfilter program cannot make)", plan.where);
      auto keys = keys_for(t, c, &plan.flavor, devices);
      if (!keys) return std::unexpected(std::move(keys).error().with_context("chain " + plan.where));
      plan.at = std::move(*keys);
      out.push_back(std::move(plan));
    }
  }
  // One TCX program per device and direction: an inet ingress chain and a netdev ingress chain
  // on one device would need two prologues (the inet one skips non-IP frames the netdev one sees).
  std::map<AttachKey, const ChainPlan*> netdev_at, inet_at;
  for (const ChainPlan& p : out)
    for (const AttachKey& k : p.at)
      if (k.flavor != flavor::Flavor::kNetfilter)
        (rs.tables[p.table].family == ir::Family::kInet ? inet_at : netdev_at).emplace(k, &p);
  for (const auto& [k, p] : inet_at)
    if (auto n = netdev_at.find(k); n != netdev_at.end())
      return failf(EOPNOTSUPP,
                   "chains {} and {} both run at {}: an inet and a netdev ingress chain on one device are "
                   "not offloaded together yet", n->second->where, p->where, k.describe());
  return out;
}

std::vector<HookPlan> plan_hooks(const std::vector<ChainPlan>& plan, const std::function<uint64_t(size_t)>& registered) {
  std::map<AttachKey, std::vector<size_t>> at;
  for (size_t i = 0; i < plan.size(); ++i)
    for (const AttachKey& k : plan[i].at) at[k].push_back(i);
  std::vector<HookPlan> out;
  for (auto& [k, chains] : at) {
    std::stable_sort(chains.begin(), chains.end(), [&](size_t a, size_t b) {
      if (plan[a].priority != plan[b].priority) return plan[a].priority < plan[b].priority;
      return registered(a) > registered(b);
    });
    out.push_back(HookPlan{k, std::move(chains)});
  }
  return out;
}

}  // namespace nfbpf::offload
