#include "nfnl-server/offload/conntrack_anchor.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cstring>
#include <memory>
#include <type_traits>
#include <variant>
#include <vector>

#include "common/log.h"
#include "translate/ir/fields.h"

namespace nfbpf::offload {

namespace {

bool tracked_family(ir::Family f) { return f == ir::Family::kIp || f == ir::Family::kIp6 || f == ir::Family::kInet; }

uint8_t nfproto(ir::Family f) {
  return f == ir::Family::kIp ? NFPROTO_IPV4 : f == ir::Family::kIp6 ? NFPROTO_IPV6 : NFPROTO_INET;
}

bool is_acct_key(ir::CtKey k) { return k == ir::CtKey::kBytes || k == ir::CtKey::kPkts || k == ir::CtKey::kAvgPkt; }

// Notes each ct field of a rule: any = some ct load, acct = an accounting key.
void note_field(const ir::Field& f, bool& any, bool& acct) {
  if (f.base != ir::Base::kCt) return;
  any = true;
  if (is_acct_key(static_cast<ir::CtKey>(f.key))) acct = true;
}

void note_rule(const ir::Rule& r, bool& any, bool& acct) {
  for (const ir::Step& s : r.steps) {
    if (const auto* m = std::get_if<ir::Match>(&s))
      for (const ir::Field& f : m->key) note_field(f, any, acct);
    else if (const auto* vm = std::get_if<ir::VerdictMap>(&s))
      for (const ir::Field& f : vm->key) note_field(f, any, acct);
    else if (const auto* b = std::get_if<ir::RegisterBlock>(&s))
      for (const ir::reg::Op& op : b->ops)
        if (const auto* l = std::get_if<ir::reg::Load>(&op)) note_field(l->field, any, acct);
  }
}

struct TableFree { void operator()(nftnl_table* t) const { nftnl_table_free(t); } };
struct ChainFree { void operator()(nftnl_chain* c) const { nftnl_chain_free(c); } };
struct RuleFree { void operator()(nftnl_rule* r) const { nftnl_rule_free(r); } };

// `ct <key> == value` on register 1 (a rule nft lists as e.g. `ct state established`).
void add_ct_cmp(nftnl_rule* r, uint32_t key, const void* value, uint32_t len) {
  nftnl_expr* ct = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
  nftnl_rule_add_expr(r, ct);
  nftnl_expr* cmp = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(cmp, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(cmp, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
  nftnl_expr_set(cmp, NFTNL_EXPR_CMP_DATA, value, len);
  nftnl_rule_add_expr(r, cmp);
}

// The messages that make the kernel's anchor tables match `want` (sent as one kernel batch by
// KernelNftClient, shared with hybrid mode's kernel tables).
class AnchorBatch {
 public:
  // Creates (or adopts an orphaned) anchor table and rewrites its rules.
  void ensure(uint8_t family, bool accounting) {
    std::unique_ptr<nftnl_table, TableFree> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kConntrackAnchorTable);
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
    msgs_.push_back(kernel_msg(NFT_MSG_NEWTABLE, family, NLM_F_CREATE, 256,
                               [&](nlmsghdr* n) { nftnl_table_nlmsg_build_payload(n, t.get()); }, "add table"));

    // Flush: an adopted table keeps the rules its previous owner wrote.
    std::unique_ptr<nftnl_rule, RuleFree> flush(nftnl_rule_alloc());
    nftnl_rule_set_str(flush.get(), NFTNL_RULE_TABLE, kConntrackAnchorTable);
    msgs_.push_back(kernel_msg(NFT_MSG_DELRULE, family, 0, 256,
                               [&](nlmsghdr* n) { nftnl_rule_nlmsg_build_payload(n, flush.get()); }, "flush table"));

    std::unique_ptr<nftnl_chain, ChainFree> c(nftnl_chain_alloc());
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, kConntrackAnchorTable);
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, kConntrackAnchorChain);
    msgs_.push_back(kernel_msg(NFT_MSG_NEWCHAIN, family, NLM_F_CREATE, 256,
                               [&](nlmsghdr* n) { nftnl_chain_nlmsg_build_payload(n, c.get()); }, "add chain"));

    const uint32_t established = 1u << (IP_CT_ESTABLISHED + 1);  // NF_CT_STATE_BIT
    rule(family, NFT_CT_STATE, &established, sizeof(established));
    if (accounting) {
      const uint64_t zero = 0;
      rule(family, NFT_CT_BYTES, &zero, sizeof(zero));
    }
  }

  void remove(uint8_t family) {
    std::unique_ptr<nftnl_table, TableFree> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kConntrackAnchorTable);
    msgs_.push_back(kernel_msg(NFT_MSG_DELTABLE, family, 0, 256,
                               [&](nlmsghdr* n) { nftnl_table_nlmsg_build_payload(n, t.get()); }, "delete table"));
  }

  const std::vector<KernelMsg>& msgs() const { return msgs_; }

 private:
  void rule(uint8_t family, uint32_t key, const void* value, uint32_t len) {
    std::unique_ptr<nftnl_rule, RuleFree> r(nftnl_rule_alloc());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, kConntrackAnchorTable);
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, kConntrackAnchorChain);
    add_ct_cmp(r.get(), key, value, len);
    msgs_.push_back(kernel_msg(NFT_MSG_NEWRULE, family, NLM_F_CREATE | NLM_F_APPEND, 512,
                               [&](nlmsghdr* n) { nftnl_rule_nlmsg_build_payload(n, r.get()); }, "add rule"));
  }

  std::vector<KernelMsg> msgs_;
};

}  // namespace

ConntrackNeeds conntrack_needs(const ir::Ruleset& rs) {
  ConntrackNeeds n;
  for (const ir::Table& t : rs.tables) {
    if (!tracked_family(t.family)) continue;
    bool any = false, acct = false;
    for (const ir::Chain& c : t.chains)
      for (const ir::Rule& r : c.rules) note_rule(r, any, acct);
    if (any) n.families.insert(t.family);
    n.accounting = n.accounting || acct;
  }
  return n;
}

ConntrackNeeds merged(const ConntrackNeeds& a, const ConntrackNeeds& b) {
  ConntrackNeeds m = a;
  m.families.insert(b.families.begin(), b.families.end());
  m.accounting = a.accounting || b.accounting;
  return m;
}

ConntrackAnchor::~ConntrackAnchor() {
  if (keep_on_exit_ || applied_.empty()) return;
  if (auto r = apply(ConntrackNeeds{}); !r)
    log::warn("conntrack anchor: deleting the anchor tables failed: {}", r.error().describe());
}

Result<void> ConntrackAnchor::stage(const ConntrackNeeds& next) {
  next_ = next;
  staged_ = merged(committed_, next);
  return apply(staged_);
}

void ConntrackAnchor::commit() {
  committed_ = next_;
  staged_ = committed_;
  if (auto r = apply(committed_); !r)
    log::warn("conntrack anchor: dropping tables no rule needs failed: {}", r.error().describe());
}

void ConntrackAnchor::abort() {
  next_ = committed_;
  staged_ = committed_;
  if (auto r = apply(committed_); !r)
    log::warn("conntrack anchor: returning to the committed tables failed: {}", r.error().describe());
}

Result<void> ConntrackAnchor::set(const ConntrackNeeds& needs) {
  NFBPF_TRYV(stage(needs));
  commit();
  return {};
}

Result<void> ConntrackAnchor::apply(const ConntrackNeeds& want) {
  if (want == applied_) return {};
  AnchorBatch b;
  for (ir::Family f : {ir::Family::kIp, ir::Family::kIp6, ir::Family::kInet}) {
    const bool wanted = want.families.contains(f), has = applied_.families.contains(f);
    if (wanted && (!has || want.accounting != applied_.accounting)) {
      b.ensure(nfproto(f), want.accounting);
    } else if (!wanted && has) {
      b.remove(nfproto(f));
    }
  }
  if (b.msgs().empty()) {
    applied_ = want;
    return {};
  }
  if (auto r = client_.batch(b.msgs()); !r)
    return failf(r.error().err,
                 "conntrack anchor: table {} (needed so that conntrack runs for the offloaded ct expressions): {}",
                 kConntrackAnchorTable, r.error().describe());
  applied_ = want;
  log::info("conntrack anchor: conntrack tables now {} (accounting {})", want.families.size(),
            want.accounting ? "on" : "off");
  return {};
}

}  // namespace nfbpf::offload
