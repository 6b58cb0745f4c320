#include "nfnl-server/offload/store_to_ir.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cstdio>
#include <memory>

#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include <fmt/format.h>

#include "nfnl-server/nftables/fill.h"
#include "translate/ir/fields.h"
#include "translate/nft/lower.h"
#include "translate/passes/pipeline.h"

namespace nfbpf::offload {

namespace {

struct RuleDeleter {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};
struct SetDeleter {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};

const nlmsghdr* header(const nfnl::Message& m) { return reinterpret_cast<const nlmsghdr*>(m.data()); }

Result<ir::Hook> hook_of(ir::Family fam, uint32_t hooknum) {
  if (fam == ir::Family::kNetdev) {
    if (hooknum == NF_NETDEV_INGRESS) return ir::Hook::kIngress;
    if (hooknum == NF_NETDEV_EGRESS) return ir::Hook::kEgress;
  } else {
    switch (hooknum) {
      case NF_INET_PRE_ROUTING: return ir::Hook::kPrerouting;
      case NF_INET_LOCAL_IN: return ir::Hook::kInput;
      case NF_INET_FORWARD: return ir::Hook::kForward;
      case NF_INET_LOCAL_OUT: return ir::Hook::kOutput;
      case NF_INET_POST_ROUTING: return ir::Hook::kPostrouting;
      case NF_INET_INGRESS: return ir::Hook::kIngress;
      default: break;
    }
  }
  return failf(EOPNOTSUPP, "hook {} is not supported in family {}", hooknum, ir::to_string(fam));
}

Result<ir::ChainType> chain_type(const std::string& t) {
  if (t == "filter") return ir::ChainType::kFilter;
  if (t == "route") return ir::ChainType::kRoute;
  if (t == "nat") return ir::ChainType::kNat;
  return failf(EOPNOTSUPP, "chain type {} is not supported", t);
}

Result<ir::Set> set_to_ir(const store::Table& t, const store::Set& s) {
  nftables::FillHdr h{.event = NFT_MSG_NEWSET};
  nfnl::Message sm = nftables::fill_set(h, t, s);
  std::unique_ptr<nftnl_set, SetDeleter> ns(nftnl_set_alloc());
  if (!ns || nftnl_set_nlmsg_parse(header(sm), ns.get()) < 0)
    return failf(EINVAL, "set {}: cannot parse its own listing", s.name);
  std::vector<const store::SetElem*> elems;
  // Expired elements stay in the store (hidden from listings) until deleted: leave them out.
  const uint64_t now = store::now_ms();
  for (const auto& e : s.elems)
    if (e.vis.active_next() && !e.expired(now)) elems.push_back(&e);
  if (!elems.empty()) {
    h.event = NFT_MSG_NEWSETELEM;
    nfnl::Message em = nftables::fill_setelems(h, t, s, elems);
    if (nftnl_set_elems_nlmsg_parse(header(em), ns.get()) < 0)
      return failf(EINVAL, "set {}: cannot parse its own elements", s.name);
  }
  return translate::nft::lower_set(ns.get());
}

Result<ir::Rule> rule_to_ir(const store::Table& t, const store::Chain& c, const store::Rule& r,
                            ir::Family fam) {
  nftables::FillHdr h{.event = NFT_MSG_NEWRULE};
  nfnl::Message m = nftables::fill_rule(h, t, c, r, 0);
  std::unique_ptr<nftnl_rule, RuleDeleter> nr(nftnl_rule_alloc());
  if (!nr || nftnl_rule_nlmsg_parse(header(m), nr.get()) < 0)
    return failf(EINVAL, "rule {}: cannot parse its own listing", r.handle);
  translate::nft::LowerContext ctx{.family = fam, .table = t.name, .chain = c.name, .rule_handle = r.handle};
  return translate::nft::lower_rule(nr.get(), ctx);
}

}  // namespace

Result<ir::Rule> lower_one_rule(const store::Table& t, const store::Chain& c, const store::Rule& r) {
  return rule_to_ir(t, c, r, translate::nft::family_from_nfproto(t.family));
}

namespace {

Result<ir::Chain> chain_to_ir(const store::Table& t, const store::Chain& c, ir::Family fam) {
  ir::Chain out{.name = c.name, .handle = c.handle};
  if (c.hook) {
    auto hook = hook_of(fam, c.hook->hooknum);
    if (!hook) return std::unexpected(std::move(hook).error().with_context("chain " + c.name));
    auto type = chain_type(c.hook->type);
    if (!type) return std::unexpected(std::move(type).error().with_context("chain " + c.name));
    out.base = ir::BaseHook{.hook = *hook, .priority = c.hook->priority, .type = *type, .devices = c.hook->devices};
    out.policy = c.hook->policy_next == NF_DROP ? ir::VerdictKind::kDrop : ir::VerdictKind::kAccept;
  }
  for (const auto& r : c.rules) {
    if (!r.vis.active_next()) continue;
    auto ir_rule = rule_to_ir(t, c, r, fam);
    if (!ir_rule) return std::unexpected(std::move(ir_rule).error());
    out.rules.push_back(std::move(*ir_rule));
  }
  return out;
}

}  // namespace

Result<ir::Table> table_to_ir(const store::Table& t) {
  return table_to_ir(t, [](const store::Chain&) { return true; });
}

Result<ir::Table> table_to_ir(const store::Table& t, const std::function<bool(const store::Chain&)>& keep) {
  const ir::Family fam = translate::nft::family_from_nfproto(t.family);
  ir::Table out{.family = fam, .name = t.name, .handle = t.handle, .flags = t.flags};
  const std::string where = fmt::format("table {} {}", ir::to_string(fam), t.name);
  for (const auto& s : t.sets) {
    if (!s->vis.active_next()) continue;
    auto set = set_to_ir(t, *s);
    if (!set) return std::unexpected(std::move(set).error().with_context(where));
    out.sets.push_back(std::move(*set));
  }
  for (const auto& c : t.chains) {
    if (!c->vis.active_next() || !keep(*c)) continue;
    auto chain = chain_to_ir(t, *c, fam);
    if (!chain) return std::unexpected(std::move(chain).error().with_context(where));
    out.chains.push_back(std::move(*chain));
  }
  auto r = translate::passes::run_pipeline(out);
  if (!r) return std::unexpected(std::move(r).error().with_context(where));
  return out;
}

Result<ir::Ruleset> ruleset_to_ir(const store::Ruleset& next) {
  ir::Ruleset out;
  for (const auto& t : next.tables) {
    if (!t->vis.active_next()) continue;
    const ir::Family fam = translate::nft::family_from_nfproto(t->family);
    if (fam != ir::Family::kIp && fam != ir::Family::kIp6 && fam != ir::Family::kInet && fam != ir::Family::kNetdev)
      continue;
    auto table = table_to_ir(*t);
    if (!table) return std::unexpected(std::move(table).error());
    out.tables.push_back(std::move(*table));
  }
  return out;
}

}  // namespace nfbpf::offload
