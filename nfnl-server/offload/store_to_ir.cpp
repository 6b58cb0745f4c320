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

// A big-endian number attribute of an object's data (0 when absent).
uint64_t object_attr(const store::Object& o, uint16_t type) {
  for (const auto& a : o.data) {
    if (a.type != type) continue;
    uint64_t x = 0;
    for (uint8_t b : a.payload) x = (x << 8) | b;
    return x;
  }
  return 0;
}

// Named quota and limit references carry their object's definition (ir::ObjectRef), as
// nft_quota_obj_init / nft_limit_obj_init read it; the rest of the rule stays as lowered.
void fill_object_definitions(const store::Table& t, ir::Rule& rule) {
  for (ir::Step& step : rule.steps) {
    auto* o = std::get_if<ir::ObjectRef>(&step);
    if (!o || (o->kind != "quota" && o->kind != "limit")) continue;
    const uint32_t type = o->kind == "quota" ? NFT_OBJECT_QUOTA : NFT_OBJECT_LIMIT;
    for (const auto& obj : t.objects) {
      if (!obj->vis.active_next() || obj->type != type || obj->name != o->name) continue;
      if (type == NFT_OBJECT_QUOTA) {
        o->quota = ir::Quota{.bytes = object_attr(*obj, NFTA_QUOTA_BYTES),
                             .consumed = object_attr(*obj, NFTA_QUOTA_CONSUMED),
                             .over = (object_attr(*obj, NFTA_QUOTA_FLAGS) & NFT_QUOTA_F_INV) != 0};
      } else {
        o->limit = ir::Limit{.rate = object_attr(*obj, NFTA_LIMIT_RATE),
                             .unit_seconds = object_attr(*obj, NFTA_LIMIT_UNIT),
                             .burst = static_cast<uint32_t>(object_attr(*obj, NFTA_LIMIT_BURST)),
                             .bytes = object_attr(*obj, NFTA_LIMIT_TYPE) == NFT_LIMIT_PKT_BYTES,
                             .over = (object_attr(*obj, NFTA_LIMIT_FLAGS) & NFT_LIMIT_F_INV) != 0};
      }
      break;
    }
  }
}

Result<ir::Rule> rule_to_ir(const store::Table& t, const store::Chain& c, const store::Rule& r,
                            ir::Family fam) {
  nftables::FillHdr h{.event = NFT_MSG_NEWRULE};
  nfnl::Message m = nftables::fill_rule(h, t, c, r, 0);
  std::unique_ptr<nftnl_rule, RuleDeleter> nr(nftnl_rule_alloc());
  if (!nr || nftnl_rule_nlmsg_parse(header(m), nr.get()) < 0)
    return failf(EINVAL, "rule {}: cannot parse its own listing", r.handle);
  translate::nft::LowerContext ctx{.family = fam, .table = t.name, .chain = c.name, .rule_handle = r.handle};
  auto rule = translate::nft::lower_rule(nr.get(), ctx);
  if (rule) fill_object_definitions(t, *rule);
  return rule;
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
