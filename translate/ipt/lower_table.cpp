// The walk over a table's entries (see lower.h): entries → chains (segments between entry
// points) → rules.
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "translate/ipt/extension.h"
#include "translate/ipt/ip_header.h"
#include "translate/ipt/lower.h"
#include "translate/ir/fields.h"

namespace nfbpf::translate::ipt {

namespace {

constexpr std::array<std::string_view, 5> kHookChain = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
constexpr std::array<ir::Hook, 5> kHook = {ir::Hook::kPrerouting, ir::Hook::kInput, ir::Hook::kForward, ir::Hook::kOutput,
                                           ir::Hook::kPostrouting};

// The priority each table registers its hooks at (iptable_*.c / ip6table_*.c, NF_IP_PRI_*).
Result<int32_t> table_priority(std::string_view table, unsigned hook) {
  if (table == "filter") return 0;
  if (table == "mangle") return -150;
  if (table == "raw") return -300;
  if (table == "security") return 50;
  if (table == "nat")  // NF_IP_PRI_NAT_DST before routing (prerouting, output), NAT_SRC after
    return hook == NF_INET_PRE_ROUTING || hook == NF_INET_LOCAL_OUT ? -100 : 100;
  return failf(EOPNOTSUPP, "table {}: unknown x_tables table", table);
}

ir::ChainType chain_type(std::string_view table, unsigned hook) {
  if (table == "nat") return ir::ChainType::kNat;
  // iptable_mangle re-routes locally generated packets whose mark or addresses changed.
  if (table == "mangle" && hook == NF_INET_LOCAL_OUT) return ir::ChainType::kRoute;
  return ir::ChainType::kFilter;
}

// One entry, parsed (family independent).
struct Entry {
  uint32_t offset = 0, index = 0, next = 0;
  uint32_t comefrom = 0;
  uint32_t target_offset = 0;
  bool go_to = false;
  std::string target;  // "" = standard
  uint8_t target_revision = 0;
  std::span<const uint8_t> target_data;
  std::optional<int32_t> verdict;  // standard target
  std::string error_name;          // ERROR target
};

std::string cstr(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

template <typename E>
Result<std::vector<Entry>> parse_entries(std::span<const uint8_t> blob, uint8_t goto_flag, const E* /*tag*/) {
  std::vector<Entry> out;
  for (uint32_t off = 0; off < blob.size();) {
    if (blob.size() - off < sizeof(E)) return failf(EINVAL, "entry at {}: truncated", off);
    E e;
    std::memcpy(&e, blob.data() + off, sizeof(E));
    if (e.next_offset < sizeof(E) + sizeof(xt_entry_target) || e.next_offset > blob.size() - off ||
        e.target_offset < sizeof(E) || e.target_offset + sizeof(xt_entry_target) > e.next_offset)
      return failf(EINVAL, "entry at {}: bad offsets", off);
    Entry x{.offset = off, .index = static_cast<uint32_t>(out.size()), .next = off + e.next_offset,
            .comefrom = e.comefrom, .target_offset = e.target_offset};
    if constexpr (std::is_same_v<E, ipt_entry>)
      x.go_to = e.ip.flags & goto_flag;
    else
      x.go_to = e.ipv6.flags & goto_flag;
    xt_entry_target t;
    std::memcpy(&t, blob.data() + off + e.target_offset, sizeof(t));
    if (t.u.target_size < sizeof(t) || e.target_offset + t.u.target_size > e.next_offset)
      return failf(EINVAL, "entry at {}: bad target size", off);
    x.target = cstr(t.u.user.name, sizeof(t.u.user.name));
    x.target_revision = t.u.user.revision;
    x.target_data = blob.subspan(off + e.target_offset + sizeof(t), t.u.target_size - sizeof(t));
    if (x.target.empty()) {
      if (x.target_data.size() < sizeof(int32_t)) return failf(EINVAL, "entry at {}: short standard target", off);
      int32_t v;
      std::memcpy(&v, x.target_data.data(), sizeof(v));
      x.verdict = v;
    } else if (x.target == XT_ERROR_TARGET) {
      x.error_name = cstr(reinterpret_cast<const char*>(x.target_data.data()), x.target_data.size());
    }
    out.push_back(std::move(x));
    off += e.next_offset;
  }
  return out;
}

class TableLowerer {
 public:
  TableLowerer(const IptTableBlob& blob, std::vector<Entry> entries)
      : blob_(blob), entries_(std::move(entries)) {
    for (const auto& e : entries_) by_offset_[e.offset] = e.index;
    table_.family = blob.family == AF_INET6 ? ir::Family::kIp6 : ir::Family::kIp;
    table_.name = std::string(blob.table);
  }

  Result<ir::Table> run() {
    NFBPF_TRYV(find_chain_starts());
    // Segments in blob order: each runs to the next chain start or ERROR entry.
    for (auto it = starts_.begin(); it != starts_.end(); ++it) NFBPF_TRYV(lower_segment(it->first));
    for (const auto& [first, hook] : hook_of_) wrap_hook_body(starts_.at(first), blob_.underflow[hook]);
    for (auto& [size, c] : truncated_chains_) table_.chains.push_back(std::move(c));
    return std::move(table_);
  }

 private:
  Result<uint32_t> index_at(uint32_t offset, std::string_view what) const {
    auto it = by_offset_.find(offset);
    if (it == by_offset_.end()) return failf(EINVAL, "{} at offset {} is not an entry", what, offset);
    return it->second;
  }

  Result<void> find_chain_starts() {
    for (unsigned h = 0; h < kHookChain.size(); ++h) {
      if (!(blob_.valid_hooks & (1u << h))) continue;
      NFBPF_IPT_TRY(i, index_at(blob_.hook_entry[h], "hook entry"));
      if (starts_.count(i)) return failf(EOPNOTSUPP, "hooks share the entry point {}", i);
      starts_[i] = std::string(kHookChain[h]);
      hook_of_[i] = h;
      NFBPF_IPT_TRY(u, index_at(blob_.underflow[h], "underflow"));
      const Entry& pol = entries_[u];
      if (!pol.target.empty() || !pol.verdict || (*pol.verdict != -NF_ACCEPT - 1 && *pol.verdict != -NF_DROP - 1))
        return failf(EINVAL, "underflow of hook {} is not an ACCEPT/DROP standard entry", h);
      policy_[i] = *pol.verdict == -NF_ACCEPT - 1 ? ir::VerdictKind::kAccept : ir::VerdictKind::kDrop;
    }
    for (const auto& e : entries_)
      if (e.target == XT_ERROR_TARGET && e.index + 1 < entries_.size() && !starts_.count(e.index + 1))
        starts_[e.index + 1] = e.error_name;
    // Every jump target starts a chain; one in the middle of another is named after it.
    for (const auto& e : entries_) {
      if (!e.target.empty() || !e.verdict || *e.verdict < 0) continue;
      NFBPF_IPT_TRY(t, index_at(static_cast<uint32_t>(*e.verdict), "jump target"));
      if (t == e.index + 1 || entries_[t].target == XT_ERROR_TARGET || starts_.count(t)) continue;
      auto owner = starts_.upper_bound(t);
      std::string base = owner == starts_.begin() ? "entry" : std::prev(owner)->second;
      starts_[t] = unused_name(fmt::format("{}@{}", base, t));
    }
    return {};
  }

  bool is_start(uint32_t i) const { return starts_.count(i) != 0; }

  // Names the walk makes up ("INPUT@body", "a@6") must not clash with a user chain's: iptables
  // allows '@' in chain names.
  std::string unused_name(std::string name) const {
    auto taken = [&](const std::string& n) {
      for (const auto& [i, s] : starts_)
        if (s == n) return true;
      for (const auto& e : entries_)
        if (e.target == XT_ERROR_TARGET && e.error_name == n) return true;
      return false;
    };
    std::string candidate = name;
    for (int k = 2; taken(candidate); ++k) candidate = fmt::format("{}#{}", name, k);
    return candidate;
  }

  Result<void> lower_segment(uint32_t first) {
    ir::Chain chain{.name = starts_.at(first)};
    const auto hook = hook_of_.find(first);
    if (hook != hook_of_.end()) {
      NFBPF_IPT_TRY(prio, table_priority(blob_.table, hook->second));
      chain.base = ir::BaseHook{.hook = kHook[hook->second], .priority = prio, .type = chain_type(blob_.table, hook->second)};
      chain.policy = policy_.at(first);
    }
    uint32_t i = first;
    bool terminal = false;
    for (; i < entries_.size() && entries_[i].target != XT_ERROR_TARGET && (i == first || !is_start(i)); ++i) {
      std::vector<ir::Rule> hotdrop;
      NFBPF_IPT_TRY(rule, lower_entry(entries_[i], chain, static_cast<uint32_t>(chain.rules.size()), hotdrop));
      terminal = is_unconditional_end(rule);
      for (auto& h : hotdrop) chain.rules.push_back(std::move(h));
      chain.rules.push_back(std::move(rule));
    }
    // Falling off the segment: into the next chain (the kernel just goes on), or into an ERROR
    // entry, whose target drops.
    if (!terminal && i < entries_.size()) {
      ir::Rule r{.handle = kSyntheticHandle + synthetic_++};
      if (entries_[i].target == XT_ERROR_TARGET) {
        r.verdict = ir::Verdict{ir::VerdictKind::kDrop};
        r.comment = "falls into an ERROR entry";
      } else {
        if (chain_is_base(i)) return failf(EOPNOTSUPP, "chain {} falls through into a hook's entry point", chain.name);
        r.verdict = ir::Verdict{ir::VerdictKind::kGoto, starts_.at(i)};
      }
      chain.rules.push_back(std::move(r));
    }
    table_.chains.push_back(std::move(chain));
    return {};
  }

  bool chain_is_base(uint32_t i) const { return hook_of_.count(i) != 0; }

  ir::Chain* chain_named(std::string_view name) {
    for (auto& c : table_.chains)
      if (c.name == name) return &c;
    return nullptr;
  }

  // A RETURN with an empty jump stack (at the top of a hook chain, or at the end of a chain
  // reached from it only by goto or fall-through, like every user chain's final RETURN) makes
  // ipt_do_table continue at the hook's underflow entry, which counts and applies the policy.
  // The IR's empty-stack return applies the policy without counting anything, so such a hook
  // chain becomes: "jump <HOOK>@body" then the underflow rule, with the hook's rules in the
  // body. Every kernel empty-stack RETURN is then an IR return to the base chain, which goes on
  // to the underflow rule. Hooks whose chains never return that way stay flat (one call less).
  void wrap_hook_body(const std::string& base_name, uint32_t underflow_offset) {
    ir::Chain* base = chain_named(base_name);
    const uint32_t underflow = by_offset_.at(underflow_offset);
    if (!base || base->rules.empty() || base->rules.back().handle != underflow) return;  // not libiptc's layout
    std::vector<std::string> todo{base_name}, seen;
    bool returns = false;
    while (!todo.empty() && !returns) {
      std::string name = todo.back();
      todo.pop_back();
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
      seen.push_back(name);
      const ir::Chain* c = chain_named(name);
      if (!c) continue;
      for (const auto& r : c->rules) {
        if (r.verdict.kind == ir::VerdictKind::kReturn) returns = true;
        if (r.verdict.kind == ir::VerdictKind::kGoto) todo.push_back(r.verdict.chain);
      }
    }
    if (!returns) return;
    ir::Chain body{.name = unused_name(base_name + "@body")};
    ir::Rule policy_rule = std::move(base->rules.back());
    base->rules.pop_back();
    body.rules = std::move(base->rules);
    base->rules.clear();
    base->rules.push_back(ir::Rule{.handle = kSyntheticHandle + synthetic_++, .verdict = {ir::VerdictKind::kJump, body.name}});
    base->rules.push_back(std::move(policy_rule));
    table_.chains.push_back(std::move(body));
  }

  static bool is_unconditional_end(const ir::Rule& r) {
    for (const auto& s : r.steps)
      if (!std::holds_alternative<ir::Counter>(s)) return false;
    switch (r.verdict.kind) {
      case ir::VerdictKind::kAccept:
      case ir::VerdictKind::kDrop:
      case ir::VerdictKind::kReturn:
      case ir::VerdictKind::kGoto: return true;
      default: return false;
    }
  }

  // ip6_packet_match drops the packet ("hotdrop") when -p is given and ipv6_find_hdr fails (a
  // header's first bytes missing, a non-first fragment of an extension header, more headers than
  // the prologue walks): a rule before the entry's with its address and interface tests (all of
  // `steps` but the -p test, when lower_ip_header emitted one) and xt6_walk_failed(), dropping.
  ir::Rule walk_failed_rule(const std::vector<ir::Step>& steps, bool has_proto_test) {
    ir::Rule r{.handle = kSyntheticHandle + synthetic_++,
               .steps = std::vector<ir::Step>(steps.begin(), steps.end() - (has_proto_test ? 1 : 0)),
               .verdict = {ir::VerdictKind::kDrop},
               .comment = "-p: ip6_tables' header walk failed (the kernel's hotdrop)"};
    r.steps.push_back(xt6_walk_failed());
    return r;
  }

  // tcp_mt drops ("hotdrop") an IPv4 TCP fragment at offset 8 (fragoff 1: it could overwrite the
  // flags of the first fragment) once the entry's earlier tests held, without counting. That is
  // expressible: a rule before the entry's, with the same earlier tests and that fragment offset,
  // dropping. Only when the earlier tests are pure matches (a limit would be consumed twice).
  std::optional<ir::Rule> tcp_hotdrop_rule(const std::vector<ir::Step>& before) {
    for (const auto& st : before)
      if (!std::holds_alternative<ir::Match>(st)) return std::nullopt;
    ir::Rule r{.handle = kSyntheticHandle + synthetic_++, .steps = before, .verdict = {ir::VerdictKind::kDrop},
               .comment = "tcp: fragment at offset 8 (the kernel's hotdrop)"};
    r.steps.push_back(ir::Match{.key = {ir::known_field(ir::KnownField::kIp4FragOff)}, .mask = ir::Bytes{0x1f, 0xff},
                                .op = ir::Op::kEq, .value = ir::Bytes{0x00, 0x01}});
    return r;
  }

  // The header size a match reads with skb_header_pointer at par->thoff, dropping the packet
  // ("hotdrop") when it is not all there: tcp_mt (struct tcphdr), udp_mt, icmp_match,
  // icmp6_match (8 bytes), multiport_mt (the two ports). 0: the match does not hotdrop that way.
  uint32_t truncation_hotdrop_size(std::string_view match) const {
    if (match == "tcp") return 20;
    if (match == "udp") return 8;
    if (match == "icmp" && table_.family == ir::Family::kIp) return 8;
    if (match == "icmp6" && table_.family == ir::Family::kIp6) return 8;
    if (match == "multiport") return 4;
    return 0;
  }

  // The kernel reads the header of non-fragments only (par->fragoff == 0, else the match just
  // fails). As IR: the earlier tests (+ "not a fragment" for IPv4), then a jump to a chain that
  // returns when transport byte size-1 can be loaded and drops otherwise. IPv6 (ip6_tables' own
  // walk, Base::kXtTransport): it also returns for non-first fragments (kXtFragOff != 0), which
  // the kernel's matches fail without reading.
  std::optional<ir::Rule> truncation_hotdrop_rule(const std::vector<ir::Step>& before, uint32_t size) {
    for (const auto& st : before)
      if (!std::holds_alternative<ir::Match>(st)) return std::nullopt;
    auto [it, fresh] = truncated_chains_.try_emplace(size);
    if (fresh) {
      ir::Chain& c = it->second;
      c.name = unused_name(fmt::format("truncated@{}", size));
      const bool xt6 = table_.family == ir::Family::kIp6;  // ip6_tables' own walk (EntryContext::xt6_walk)
      const ir::Field last{.base = xt6 ? ir::Base::kXtTransport : ir::Base::kTransport, .offset = size - 1, .len = 1};
      c.rules.push_back(ir::Rule{.handle = kSyntheticHandle + synthetic_++,
                                 .steps = {ir::Match{.key = {last}, .op = ir::Op::kLt, .value = ir::Bytes{0x80}}},
                                 .verdict = {ir::VerdictKind::kReturn}});
      c.rules.push_back(ir::Rule{.handle = kSyntheticHandle + synthetic_++,
                                 .steps = {ir::Match{.key = {last}, .op = ir::Op::kGe, .value = ir::Bytes{0x80}}},
                                 .verdict = {ir::VerdictKind::kReturn}});
      if (xt6) {  // x_tables' matches fail non-first fragments without reading: no drop
        const ir::Field fragoff{.base = ir::Base::kMeta, .len = 2, .key = static_cast<uint8_t>(ir::MetaKey::kXtFragOff),
                                .host_order = true};
        c.rules.push_back(ir::Rule{.handle = kSyntheticHandle + synthetic_++,
                                   .steps = {ir::Match{.key = {fragoff}, .op = ir::Op::kNe, .value = ir::Bytes{0, 0}}},
                                   .verdict = {ir::VerdictKind::kReturn}});
      } else if (table_.family == ir::Family::kIp6) {
        ir::Field frag{.base = ir::Base::kExtHdr, .offset = 0, .len = 1, .key = static_cast<uint8_t>(ir::ExtHdrOp::kIpv6)};
        frag.ext_type = 44;  // NEXTHDR_FRAGMENT
        frag.ext_present = true;
        c.rules.push_back(ir::Rule{.handle = kSyntheticHandle + synthetic_++,
                                   .steps = {ir::Match{.key = {frag}, .op = ir::Op::kEq, .value = ir::Bytes{1}}},
                                   .verdict = {ir::VerdictKind::kReturn}});
      }
      c.rules.push_back(ir::Rule{.handle = kSyntheticHandle + synthetic_++, .verdict = {ir::VerdictKind::kDrop},
                                 .comment = fmt::format("transport header shorter than {} bytes (the kernel's hotdrop)", size)});
    }
    ir::Rule r{.handle = kSyntheticHandle + synthetic_++, .steps = before,
               .verdict = {ir::VerdictKind::kJump, it->second.name}};
    if (table_.family == ir::Family::kIp)
      r.steps.push_back(ir::Match{.key = {ir::known_field(ir::KnownField::kIp4FragOff)}, .mask = ir::Bytes{0x1f, 0xff},
                                  .op = ir::Op::kEq, .value = ir::Bytes{0x00, 0x00}});
    return r;
  }

  Result<ir::Rule> lower_entry(const Entry& e, const ir::Chain& chain, uint32_t position, std::vector<ir::Rule>& hotdrop) {
    ir::Rule rule{.handle = e.index};
    EntryContext ctx{.family = table_.family, .table = blob_.table, .chain = chain.name, .entry_index = e.index,
                     .rule_in_chain = position, .hooks = e.comefrom & ((1u << NF_INET_NUMHOOKS) - 1)};
    const uint8_t* base = blob_.entries.data() + e.offset;
    uint32_t matches_at = 0;
    if (table_.family == ir::Family::kIp6) {
      ip6t_entry h;
      std::memcpy(&h, base, sizeof(h));
      ctx.l4proto = (h.ipv6.flags & IP6T_F_PROTO) && !(h.ipv6.invflags & IP6T_INV_PROTO) ? h.ipv6.proto : 0;
      ctx.xt6_walk = true;
      NFBPF_TRYV(lower_ip_header(h.ipv6, rule.steps, ctx));
      if (h.ipv6.flags & IP6T_F_PROTO) hotdrop.push_back(walk_failed_rule(rule.steps, h.ipv6.proto != 0));
      matches_at = sizeof(ip6t_entry);
    } else {
      ipt_entry h;
      std::memcpy(&h, base, sizeof(h));
      ctx.l4proto = (h.ip.invflags & IPT_INV_PROTO) ? 0 : h.ip.proto;
      NFBPF_TRYV(lower_ip_header(h.ip, rule.steps, ctx));
      matches_at = sizeof(ipt_entry);
    }
    EntryOut out{.steps = rule.steps, .table_sets = table_.sets, .comment = rule.comment};
    for (uint32_t off = matches_at; off < e.target_offset;) {
      xt_entry_match m;
      if (e.target_offset - off < sizeof(m)) return failf(EINVAL, "truncated match ({})", ctx.where());
      std::memcpy(&m, base + off, sizeof(m));
      if (m.u.match_size < sizeof(m) || off + m.u.match_size > e.target_offset)
        return failf(EINVAL, "bad match size {} ({})", m.u.match_size, ctx.where());
      ExtensionData x{.name = {}, .revision = m.u.user.revision,
                      .data = blob_.entries.subspan(e.offset + off + sizeof(m), m.u.match_size - sizeof(m))};
      const std::string name = cstr(m.u.user.name, sizeof(m.u.user.name));
      x.name = name;
      const Extension* ext = find_match(name);
      if (!ext) return failf(EOPNOTSUPP, "match {}: not supported ({})", name, ctx.where());
      if (!ext->lower) return failf(EOPNOTSUPP, "match {}: {} ({})", name, ext->refusal, ctx.where());
      if (name == "tcp" && table_.family == ir::Family::kIp)
        if (auto h = tcp_hotdrop_rule(rule.steps)) hotdrop.push_back(std::move(*h));
      if (const uint32_t size = truncation_hotdrop_size(name))
        if (auto h = truncation_hotdrop_rule(rule.steps, size)) hotdrop.push_back(std::move(*h));
      NFBPF_TRYV(ext->lower(x, out, ctx));
      off += m.u.match_size;
    }
    // ipt_do_table counts once the matches held, before the target runs.
    rule.steps.emplace_back(ir::Counter{});
    NFBPF_IPT_TRY(v, lower_target(e, out, ctx, chain));
    rule.verdict = std::move(v);
    return rule;
  }

  Result<ir::Verdict> lower_target(const Entry& e, EntryOut& out, const EntryContext& ctx, const ir::Chain& /*chain*/) {
    if (e.target == XT_ERROR_TARGET) return failf(EINVAL, "ERROR entry inside a chain ({})", ctx.where());
    if (!e.target.empty()) {
      const Extension* ext = find_target(e.target);
      if (!ext) return failf(EOPNOTSUPP, "target {}: not supported ({})", e.target, ctx.where());
      if (!ext->lower) return failf(EOPNOTSUPP, "{}: {} ({})", e.target, ext->refusal, ctx.where());
      ExtensionData x{.name = e.target, .revision = e.target_revision, .data = e.target_data};
      NFBPF_TRYV(ext->lower(x, out, ctx));
      return ir::Verdict{ir::VerdictKind::kContinue};
    }
    const int32_t v = *e.verdict;
    if (v < 0) {
      switch (-v - 1) {
        case NF_ACCEPT: return ir::Verdict{ir::VerdictKind::kAccept};
        case NF_DROP: return ir::Verdict{ir::VerdictKind::kDrop};
        case NF_REPEAT:  // XT_RETURN (with an empty stack: see wrap_hook_body)
          return ir::Verdict{ir::VerdictKind::kReturn};
        case NF_QUEUE: return failf(EOPNOTSUPP, "QUEUE: queues packets to userspace ({})", ctx.where());
        default: return failf(EINVAL, "standard verdict {} ({})", v, ctx.where());
      }
    }
    NFBPF_IPT_TRY(t, index_at(static_cast<uint32_t>(v), "jump target"));
    if (t == e.index + 1) return ir::Verdict{ir::VerdictKind::kContinue};  // no push, just the next entry
    if (entries_[t].target == XT_ERROR_TARGET)  // the ERROR target drops
      return ir::Verdict{ir::VerdictKind::kDrop};
    if (chain_is_base(t)) return failf(EOPNOTSUPP, "a jump into the hook chain {} ({})", starts_.at(t), ctx.where());
    return ir::Verdict{e.go_to ? ir::VerdictKind::kGoto : ir::VerdictKind::kJump, starts_.at(t)};
  }

  const IptTableBlob& blob_;
  std::vector<Entry> entries_;
  std::map<uint32_t, uint32_t> by_offset_;            // offset → index
  std::map<uint32_t, std::string> starts_;            // first entry index → chain name
  std::map<uint32_t, unsigned> hook_of_;              // first entry index → hook
  std::map<uint32_t, ir::VerdictKind> policy_;        // first entry index → policy
  ir::Table table_;
  uint64_t synthetic_ = 0;
  std::map<uint32_t, ir::Chain> truncated_chains_;  // header size → its truncation_hotdrop_rule chain
};

}  // namespace

Result<ir::Table> lower_ipt_table(const IptTableBlob& blob) {
  if (blob.family != AF_INET && blob.family != AF_INET6)
    return failf(EAFNOSUPPORT, "x_tables family {}: only AF_INET and AF_INET6", blob.family);
  Result<std::vector<Entry>> entries = blob.family == AF_INET6
                                           ? parse_entries(blob.entries, IP6T_F_GOTO, static_cast<const ip6t_entry*>(nullptr))
                                           : parse_entries(blob.entries, IPT_F_GOTO, static_cast<const ipt_entry*>(nullptr));
  if (!entries) return std::unexpected(entries.error());
  if (entries->empty() || entries->back().target != XT_ERROR_TARGET)
    return failf(EINVAL, "table {} does not end with an ERROR entry", blob.table);
  TableLowerer l(blob, std::move(*entries));
  return l.run();
}

}  // namespace nfbpf::translate::ipt
