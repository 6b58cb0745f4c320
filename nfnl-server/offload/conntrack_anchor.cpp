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
struct BatchFree { void operator()(mnl_nlmsg_batch* b) const { mnl_nlmsg_batch_stop(b); } };

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

// Builds the batch that makes the kernel's anchor tables match `want` given what `have` put there.
class AnchorBatch {
 public:
  explicit AnchorBatch(uint32_t& seq) : seq_(seq), buf_(kSize) {
    batch_.reset(mnl_nlmsg_batch_start(buf_.data(), buf_.size()));
    nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch_.get())), seq_++);
    mnl_nlmsg_batch_next(batch_.get());
  }

  // Creates (or adopts an orphaned) anchor table and rewrites its rules.
  void ensure(uint8_t family, bool accounting) {
    std::unique_ptr<nftnl_table, TableFree> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kConntrackAnchorTable);
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
    nftnl_table_nlmsg_build_payload(header(NFT_MSG_NEWTABLE, family, NLM_F_CREATE), t.get());

    // Flush: an adopted table keeps the rules its previous owner wrote.
    std::unique_ptr<nftnl_rule, RuleFree> flush(nftnl_rule_alloc());
    nftnl_rule_set_str(flush.get(), NFTNL_RULE_TABLE, kConntrackAnchorTable);
    nftnl_rule_nlmsg_build_payload(header(NFT_MSG_DELRULE, family, 0), flush.get());

    std::unique_ptr<nftnl_chain, ChainFree> c(nftnl_chain_alloc());
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, kConntrackAnchorTable);
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, kConntrackAnchorChain);
    nftnl_chain_nlmsg_build_payload(header(NFT_MSG_NEWCHAIN, family, NLM_F_CREATE), c.get());

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
    nftnl_table_nlmsg_build_payload(header(NFT_MSG_DELTABLE, family, 0), t.get());
  }

  size_t messages() const { return messages_; }

  // The finished batch.
  std::pair<const void*, size_t> done() {
    next();
    nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch_.get())), seq_++);
    mnl_nlmsg_batch_next(batch_.get());
    return {mnl_nlmsg_batch_head(batch_.get()), mnl_nlmsg_batch_size(batch_.get())};
  }

 private:
  static constexpr size_t kSize = 16384;  // a few messages per family; far below this

  // Starts a message (the previous one, now filled, joins the batch first).
  nlmsghdr* header(uint16_t type, uint8_t family, uint16_t flags) {
    next();
    auto* nlh = nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch_.get())), type, family,
                                      flags | NLM_F_ACK, seq_++);
    ++messages_;
    pending_ = nlh;
    return nlh;
  }
  void rule(uint8_t family, uint32_t key, const void* value, uint32_t len) {
    std::unique_ptr<nftnl_rule, RuleFree> r(nftnl_rule_alloc());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, kConntrackAnchorTable);
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, kConntrackAnchorChain);
    add_ct_cmp(r.get(), key, value, len);
    nftnl_rule_nlmsg_build_payload(header(NFT_MSG_NEWRULE, family, NLM_F_CREATE | NLM_F_APPEND), r.get());
  }
  void next() {
    if (pending_) mnl_nlmsg_batch_next(batch_.get());
    pending_ = nullptr;
  }

  uint32_t& seq_;
  std::vector<char> buf_;
  std::unique_ptr<mnl_nlmsg_batch, BatchFree> batch_;
  nlmsghdr* pending_ = nullptr;
  size_t messages_ = 0;
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
  if (!sock_) {
    Fd s(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
    if (!s) return fail_errno("conntrack anchor: netlink socket");
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0)
      return fail_errno("conntrack anchor: bind");
    socklen_t len = sizeof(local);
    if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&local), &len) < 0)
      return fail_errno("conntrack anchor: getsockname");
    timeval tv{.tv_sec = 2, .tv_usec = 0};  // the kernel answers at once; never hang the daemon
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    portid_ = local.nl_pid;
    sock_ = std::move(s);
  }

  AnchorBatch b(seq_);
  for (ir::Family f : {ir::Family::kIp, ir::Family::kIp6, ir::Family::kInet}) {
    const bool wanted = want.families.contains(f), has = applied_.families.contains(f);
    if (wanted && (!has || want.accounting != applied_.accounting)) {
      b.ensure(nfproto(f), want.accounting);
    } else if (!wanted && has) {
      b.remove(nfproto(f));
    }
  }
  const size_t expected = b.messages();
  auto [data, size] = b.done();
  if (expected == 0) {
    applied_ = want;
    return {};
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock_.get(), data, size, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0)
    return fail_errno("conntrack anchor: sending the batch");

  // One NLMSG_ERROR (0 = ack) per message; after an error, take what is already queued and stop.
  int first_error = 0;
  size_t answered = 0;
  std::array<char, 16384> buf;
  while (answered < expected) {
    ssize_t n = ::recv(sock_.get(), buf.data(), buf.size(), first_error ? MSG_DONTWAIT : 0);
    if (n < 0) {
      if (first_error) break;
      return fail_errno("conntrack anchor: waiting for the kernel's answer");
    }
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, static_cast<int>(n));
         nlh = mnl_nlmsg_next(nlh, reinterpret_cast<int*>(&n))) {
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      ++answered;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error != 0 && !first_error) first_error = -err->error;
    }
  }
  if (first_error)
    return failf(first_error,
                 "conntrack anchor: the kernel refused table {} (needed so that conntrack runs for the "
                 "offloaded ct expressions): {}",
                 kConntrackAnchorTable, std::strerror(first_error));
  applied_ = want;
  log::info("conntrack anchor: conntrack tables now {} (accounting {})", want.families.size(),
            want.accounting ? "on" : "off");
  return {};
}

}  // namespace nfbpf::offload
