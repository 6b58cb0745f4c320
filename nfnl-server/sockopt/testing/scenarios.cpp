#include "nfnl-server/sockopt/testing/scenarios.h"

#include <arpa/inet.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <linux/netfilter_ipv6/ip6t_REJECT.h>

#include <climits>
#include <cstring>
#include <functional>
#include <string>

#include "nfnl-server/sockopt/testing/blob_builder.h"

namespace nfbpf::nfnl::sockopt::testing {

namespace {

constexpr const char* kTables[] = {"filter", "mangle", "raw", "security", "nat", "nosuch"};

std::string fam(int af) { return af == AF_INET6 ? "ip6" : "ip"; }

std::vector<uint8_t> named(const std::string& name, size_t size) {
  std::vector<uint8_t> buf(size, 0);
  std::memcpy(buf.data(), name.data(), std::min(name.size(), size));
  return buf;
}

// GET_INFO; the observation holds the whole buffer.
ipt_getinfo get_info(Backend& b, Trace& t, int af, const std::string& table,
                     socklen_t len = sizeof(ipt_getinfo)) {
  std::vector<uint8_t> buf = named(table, std::max<size_t>(len, sizeof(ipt_getinfo)));
  socklen_t l = len;
  const int r = b.get(af, IPT_SO_GET_INFO, buf.data(), &l);
  t.push_back({fam(af) + " GET_INFO " + table + " len " + std::to_string(len), r, buf});
  ipt_getinfo info{};
  if (r == 0) std::memcpy(&info, buf.data(), sizeof(info));
  return info;
}

// GET_ENTRIES into a zero-filled buffer of exactly 40 + size (+ extra) bytes.
void get_entries(Backend& b, Trace& t, int af, const std::string& table, unsigned size,
                 int extra = 0, unsigned announced_delta = 0) {
  const size_t len = sizeof(ipt_get_entries) + size + static_cast<size_t>(extra);
  std::vector<uint8_t> buf = named(table, std::max(len, sizeof(ipt_get_entries)));
  const unsigned announced = size + announced_delta;
  std::memcpy(buf.data() + offsetof(ipt_get_entries, size), &announced, sizeof(announced));
  socklen_t l = static_cast<socklen_t>(len);
  const int r = b.get(af, IPT_SO_GET_ENTRIES, buf.data(), &l);
  t.push_back({fam(af) + " GET_ENTRIES " + table + " size " + std::to_string(size) + " extra " +
                   std::to_string(extra) + " delta " + std::to_string(announced_delta),
               r, buf});
}

void dump(Backend& b, Trace& t, int af, const std::string& table) {
  const ipt_getinfo info = get_info(b, t, af, table);
  get_entries(b, t, af, table, info.size);
}

void revision(Backend& b, Trace& t, int af, bool target, const std::string& name, uint8_t rev) {
  xt_get_revision r{};
  std::memcpy(r.name, name.data(), std::min(name.size(), sizeof(r.name) - 1));
  r.revision = rev;
  socklen_t len = sizeof(r);
  const int opt = af == AF_INET6
                      ? (target ? IP6T_SO_GET_REVISION_TARGET : IP6T_SO_GET_REVISION_MATCH)
                      : (target ? IPT_SO_GET_REVISION_TARGET : IPT_SO_GET_REVISION_MATCH);
  const int ret = b.get(af, opt, &r, &len);
  t.push_back({fam(af) + (target ? " target " : " match ") + name + " rev " + std::to_string(rev),
               ret, {}});
}

// Family-specific pieces of the test ruleset.
template <typename F>
struct Rules;

template <>
struct Rules<Ipv4> {
  static ipt_ip src_host() {
    ipt_ip ip{};
    ::inet_pton(AF_INET, "10.0.0.1", &ip.src);
    ip.smsk.s_addr = 0xFFFFFFFFu;
    return ip;
  }
  static ipt_ip proto(uint16_t p) {
    ipt_ip ip{};
    ip.proto = p;
    return ip;
  }
  static std::vector<uint8_t> reject(unsigned with) {
    ipt_reject_info r{};
    r.with = static_cast<ipt_reject_with>(with);
    return ext("REJECT", 0, bytes_of(r), sizeof(r));
  }
  static constexpr unsigned kRejectPort = IPT_ICMP_PORT_UNREACHABLE;
  static constexpr unsigned kRejectEcho = IPT_ICMP_ECHOREPLY;
};

template <>
struct Rules<Ipv6> {
  static ip6t_ip6 src_host() {
    ip6t_ip6 ip{};
    ::inet_pton(AF_INET6, "2001:db8::1", &ip.src);
    std::memset(&ip.smsk, 0xFF, sizeof(ip.smsk));
    return ip;
  }
  static ip6t_ip6 proto(uint16_t p) {
    ip6t_ip6 ip{};
    ip.proto = p;
    ip.flags = IP6T_F_PROTO;
    return ip;
  }
  static std::vector<uint8_t> reject(unsigned with) {
    ip6t_reject_info r{};
    r.with = with;
    return ext("REJECT", 0, bytes_of(r), sizeof(r));
  }
  static constexpr unsigned kRejectPort = IP6T_ICMP6_PORT_UNREACH;
  static constexpr unsigned kRejectEcho = IP6T_ICMP6_ECHOREPLY;
};

struct Layout {
  uint32_t drop_rule, tcp_rule, jump_rule, input_policy, forward_policy, output_policy;
  uint32_t chain_head, udp_rule, return_rule, end;
};

std::vector<uint8_t> tcp_match(uint16_t dport, uint8_t invflags = 0, uint8_t rev = 0) {
  xt_tcp m{};
  m.spts[1] = 0xFFFF;
  m.dpts[0] = m.dpts[1] = dport;
  m.invflags = invflags;
  return ext("tcp", rev, bytes_of(m), sizeof(m));
}

std::vector<uint8_t> udp_match() {
  xt_udp m{};
  m.spts[1] = m.dpts[1] = 0xFFFF;
  return ext("udp", 0, bytes_of(m), sizeof(m));
}

// filter: INPUT { -s host -j DROP; -p tcp --dport 22 -j REJECT; -j mychain; policy ACCEPT }
// FORWARD { policy DROP } OUTPUT { policy ACCEPT } mychain { -p udp -j ACCEPT; RETURN }.
template <typename F>
ReplaceBuffer filter_ruleset(Layout& l, unsigned num_counters) {
  using R = Rules<F>;
  BlobBuilder<F> bb;
  l.drop_rule = bb.entry(R::src_host(), {}, standard_target(verdict_of(NF_DROP)));
  l.tcp_rule = bb.entry(R::proto(IPPROTO_TCP), {tcp_match(22)}, R::reject(R::kRejectPort));
  l.jump_rule = bb.entry(typename F::Ip{}, {}, standard_target(0));
  l.input_policy = bb.policy(NF_ACCEPT);
  l.forward_policy = bb.policy(NF_DROP);
  l.output_policy = bb.policy(NF_ACCEPT);
  l.chain_head = bb.chain_head("mychain");
  l.udp_rule = bb.entry(R::proto(IPPROTO_UDP), {udp_match()}, standard_target(verdict_of(NF_ACCEPT)));
  l.return_rule = bb.entry(typename F::Ip{}, {}, standard_target(XT_RETURN));
  l.end = bb.chain_head("ERROR");
  bb.set_verdict(l.jump_rule, static_cast<int>(l.udp_rule));

  ReplaceBuffer rb;
  std::strcpy(rb.header.name, "filter");
  rb.header.valid_hooks = (1u << NF_INET_LOCAL_IN) | (1u << NF_INET_FORWARD) | (1u << NF_INET_LOCAL_OUT);
  rb.header.num_entries = bb.count();
  rb.header.size = bb.size();
  rb.header.hook_entry[NF_INET_LOCAL_IN] = l.drop_rule;
  rb.header.underflow[NF_INET_LOCAL_IN] = l.input_policy;
  rb.header.hook_entry[NF_INET_FORWARD] = rb.header.underflow[NF_INET_FORWARD] = l.forward_policy;
  rb.header.hook_entry[NF_INET_LOCAL_OUT] = rb.header.underflow[NF_INET_LOCAL_OUT] = l.output_policy;
  rb.header.num_counters = num_counters;
  rb.entries = std::move(bb.blob());
  return rb;
}

int replace(Backend& b, Trace& t, int af, const std::string& what, ReplaceBuffer& rb) {
  std::vector<uint8_t> buf = rb.bytes();
  const int r = b.set(af, IPT_SO_SET_REPLACE, buf.data(),
                      static_cast<socklen_t>(static_cast<long>(buf.size()) + rb.optlen_delta));
  std::vector<uint8_t> counters(rb.old_counters.size() * sizeof(xt_counters));
  if (!counters.empty()) std::memcpy(counters.data(), rb.old_counters.data(), counters.size());
  t.push_back({fam(af) + " SET_REPLACE " + what, r, counters});
  return r;
}

void add_counters(Backend& b, Trace& t, int af, const std::string& table, unsigned n,
                  unsigned announced) {
  std::vector<uint8_t> buf(sizeof(xt_counters_info) + n * sizeof(xt_counters), 0);
  xt_counters_info info{};
  std::strncpy(info.name, table.c_str(), sizeof(info.name) - 1);
  info.num_counters = announced;
  std::memcpy(buf.data(), &info, sizeof(info));
  for (unsigned i = 0; i < n; ++i) {
    const xt_counters c{100u * i + 7, i + 1};  // pcnt, bcnt
    std::memcpy(buf.data() + sizeof(info) + i * sizeof(c), &c, sizeof(c));
  }
  const int r = b.set(af, IPT_SO_SET_ADD_COUNTERS, buf.data(), static_cast<socklen_t>(buf.size()));
  t.push_back({fam(af) + " ADD_COUNTERS " + table + " n " + std::to_string(n) + " announced " +
                   std::to_string(announced),
               r, {}});
}

template <typename F>
void replace_and_counters(Backend& b, Trace& t) {
  const int af = F::kFamily;
  const ipt_getinfo before = get_info(b, t, af, "filter");
  Layout l;
  ReplaceBuffer rb = filter_ruleset<F>(l, before.num_entries);
  replace(b, t, af, "filter ruleset", rb);
  dump(b, t, af, "filter");
  add_counters(b, t, af, "filter", 10, 10);
  add_counters(b, t, af, "filter", 9, 9);    // the count differs: EINVAL
  add_counters(b, t, af, "filter", 10, 11);  // announced differs from the bytes: EINVAL
  add_counters(b, t, af, "nosuch", 10, 10);
  dump(b, t, af, "filter");
  // Replacing again hands back the counters just added.
  ReplaceBuffer again = filter_ruleset<F>(l, 10);
  replace(b, t, af, "filter ruleset again", again);
  dump(b, t, af, "filter");
}

template <typename F>
void bad_blobs(Backend& b, Trace& t) {
  const int af = F::kFamily;
  using E = typename F::Entry;
  Layout l;
  {
    ReplaceBuffer good = filter_ruleset<F>(l, get_info(b, t, af, "filter").num_entries);
    replace(b, t, af, "good", good);
  }
  const unsigned n = 10;
  auto at = [](ReplaceBuffer& rb, uint32_t off) { return rb.entries.data() + off; };
  auto target_of = [&](ReplaceBuffer& rb, uint32_t off) {
    return at(rb, off) + load<uint16_t>(at(rb, off) + offsetof(E, target_offset));
  };
  auto set_verdict = [&](ReplaceBuffer& rb, uint32_t off, int v) {
    store<int>(target_of(rb, off) + sizeof(xt_entry_target), v);
  };
  const std::vector<std::pair<std::string, std::function<void(ReplaceBuffer&)>>> mutations = {
      {"num_counters 0", [](ReplaceBuffer& rb) { rb.header.num_counters = 0; }},
      {"num_counters off by one", [](ReplaceBuffer& rb) { rb.header.num_counters += 1; }},
      {"num_counters huge", [](ReplaceBuffer& rb) { rb.header.num_counters = INT_MAX / 16; }},
      {"valid_hooks lie", [](ReplaceBuffer& rb) { rb.header.valid_hooks |= 1u << NF_INET_POST_ROUTING; }},
      {"unknown table", [](ReplaceBuffer& rb) { std::strcpy(rb.header.name, "nosuch"); }},
      {"REJECT outside filter", [](ReplaceBuffer& rb) { std::strcpy(rb.header.name, "mangle"); }},
      {"num_entries + 1", [](ReplaceBuffer& rb) { rb.header.num_entries += 1; }},
      {"num_entries - 1", [](ReplaceBuffer& rb) { rb.header.num_entries -= 1; }},
      {"size - 8", [](ReplaceBuffer& rb) { rb.header.size -= 8; rb.entries.resize(rb.header.size); }},
      {"size + 8", [](ReplaceBuffer& rb) { rb.header.size += 8; rb.entries.resize(rb.header.size); }},
      {"optlen one short", [](ReplaceBuffer& rb) { rb.optlen_delta = -1; }},
      {"optlen shorter than the header",
       [](ReplaceBuffer& rb) { rb.optlen_delta = -static_cast<long>(rb.entries.size()) - 1; }},
      {"size huge", [](ReplaceBuffer& rb) { rb.header.size = 600u << 20; rb.entries.clear(); }},
      {"hook entry between entries", [](ReplaceBuffer& rb) { rb.header.hook_entry[NF_INET_LOCAL_IN] += 8; }},
      {"underflow on a conditional rule",
       [&](ReplaceBuffer& rb) { rb.header.underflow[NF_INET_LOCAL_IN] = l.drop_rule; }},
      {"hooks unsorted",
       [&](ReplaceBuffer& rb) {
         std::swap(rb.header.hook_entry[NF_INET_FORWARD], rb.header.hook_entry[NF_INET_LOCAL_OUT]);
         std::swap(rb.header.underflow[NF_INET_FORWARD], rb.header.underflow[NF_INET_LOCAL_OUT]);
       }},
      {"duplicate hook entry",
       [&](ReplaceBuffer& rb) {
         rb.header.hook_entry[NF_INET_LOCAL_OUT] = rb.header.hook_entry[NF_INET_FORWARD];
       }},
      {"underflow DROP policy is fine, QUEUE is not",
       [&](ReplaceBuffer& rb) { set_verdict(rb, l.input_policy, verdict_of(NF_QUEUE)); }},
      {"next_offset too small",
       [&](ReplaceBuffer& rb) { store<uint16_t>(at(rb, l.drop_rule) + offsetof(E, next_offset), sizeof(E)); }},
      {"target_offset inside the header",
       [&](ReplaceBuffer& rb) { store<uint16_t>(at(rb, l.drop_rule) + offsetof(E, target_offset), 8); }},
      {"target_size too small", [&](ReplaceBuffer& rb) { store<uint16_t>(target_of(rb, l.drop_rule), 8); }},
      {"standard target size", [&](ReplaceBuffer& rb) { store<uint16_t>(target_of(rb, l.drop_rule), 48); }},
      {"verdict -10", [&](ReplaceBuffer& rb) { set_verdict(rb, l.drop_rule, -10); }},
      {"verdict 0", [&](ReplaceBuffer& rb) { set_verdict(rb, l.drop_rule, 0); }},
      {"jump into a rule", [&](ReplaceBuffer& rb) { set_verdict(rb, l.jump_rule, static_cast<int>(l.udp_rule + 8)); }},
      {"jump past the end", [&](ReplaceBuffer& rb) { set_verdict(rb, l.jump_rule, static_cast<int>(l.end + 4096)); }},
      {"loop", [&](ReplaceBuffer& rb) { set_verdict(rb, l.udp_rule, static_cast<int>(l.udp_rule)); }},
      {"jump to the chain head (accepted)", [&](ReplaceBuffer& rb) { set_verdict(rb, l.jump_rule, static_cast<int>(l.chain_head)); }},
      {"ip flags unknown", [&](ReplaceBuffer& rb) { at(rb, l.drop_rule)[offsetof(typename F::Ip, flags)] = 0x80; }},
      {"ip invflags unknown", [&](ReplaceBuffer& rb) { at(rb, l.drop_rule)[offsetof(typename F::Ip, invflags)] = 0x80; }},
      {"error name unterminated",
       [&](ReplaceBuffer& rb) { std::memset(target_of(rb, l.chain_head) + sizeof(xt_entry_target), 'x', XT_FUNCTION_MAXNAMELEN); }},
      {"error target size", [&](ReplaceBuffer& rb) { store<uint16_t>(target_of(rb, l.end), 40); }},
      {"unknown target",
       [&](ReplaceBuffer& rb) { std::memcpy(target_of(rb, l.tcp_rule) + 2, "NOSUCHTG", 9); }},
      {"target revision unknown",
       [&](ReplaceBuffer& rb) { target_of(rb, l.tcp_rule)[offsetof(xt_entry_target, u.user.revision)] = 7; }},
      {"target name unterminated",
       [&](ReplaceBuffer& rb) { std::memset(target_of(rb, l.tcp_rule) + 2, 'x', XT_EXTENSION_MAXNAMELEN); }},
      {"unknown match", [&](ReplaceBuffer& rb) { std::memcpy(at(rb, l.udp_rule) + sizeof(E) + 2, "nosuchmt", 9); }},
      {"match revision unknown", [&](ReplaceBuffer& rb) { at(rb, l.udp_rule)[sizeof(E) + offsetof(xt_entry_match, u.user.revision)] = 9; }},
      {"match size beyond target",
       [&](ReplaceBuffer& rb) { store<uint16_t>(at(rb, l.udp_rule) + sizeof(E), 200); }},
      {"tcp without -p tcp",
       [&](ReplaceBuffer& rb) { store<uint16_t>(at(rb, l.tcp_rule) + offsetof(typename F::Ip, proto), IPPROTO_UDP); }},
      {"tcp with ! -p tcp",
       [&](ReplaceBuffer& rb) { at(rb, l.tcp_rule)[offsetof(typename F::Ip, invflags)] |= F::kInvProto; }},
      {"tcp invflags unknown",
       [&](ReplaceBuffer& rb) { at(rb, l.tcp_rule)[sizeof(E) + sizeof(xt_entry_match) + offsetof(xt_tcp, invflags)] = 0x40; }},
      {"REJECT with echo-reply",
       [&](ReplaceBuffer& rb) { store<unsigned>(target_of(rb, l.tcp_rule) + sizeof(xt_entry_target), Rules<F>::kRejectEcho); }},
  };
  for (const auto& [what, mutate] : mutations) {
    ReplaceBuffer rb = filter_ruleset<F>(l, n);
    mutate(rb);
    replace(b, t, af, what, rb);
  }
  dump(b, t, af, "filter");  // unchanged by any of the refused replaces
}

template <typename F>
void random_corruptions(Backend& b, Trace& t) {
  using E = typename F::Entry;
  const int af = F::kFamily;
  Layout l;
  const ReplaceBuffer good = filter_ruleset<F>(l, 0);
  // Bytes that may change: everything but the extension names.
  std::vector<uint32_t> mutable_bytes;
  for (uint32_t off = 0; off < good.entries.size();) {
    const uint8_t* e = good.entries.data() + off;
    const uint16_t target_offset = load<uint16_t>(e + offsetof(E, target_offset));
    const uint16_t next_offset = load<uint16_t>(e + offsetof(E, next_offset));
    std::vector<bool> is_name(next_offset, false);
    for (uint32_t m = sizeof(E); m <= target_offset; m += load<uint16_t>(e + m)) {
      for (uint32_t i = 2; i < 2 + XT_EXTENSION_MAXNAMELEN; ++i) is_name[m + i] = true;
      if (m == target_offset) break;
    }
    for (uint32_t i = 0; i < next_offset; ++i) {
      if (!is_name[i]) mutable_bytes.push_back(off + i);
    }
    off += next_offset;
  }
  uint64_t state = 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(af);
  auto next = [&] {  // xorshift64: the same sequence for the kernel and for nfbpf
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < 1000; ++i) {
    ReplaceBuffer rb = good;
    rb.header.num_counters = get_info(b, t, af, "filter").num_entries;
    t.pop_back();  // the count is an input here, not an observation
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int f = 0; f < flips; ++f) {
      const uint32_t at = mutable_bytes[next() % mutable_bytes.size()];
      rb.entries[at] = static_cast<uint8_t>(next());
    }
    if (replace(b, t, af, "random " + std::to_string(i), rb) == 0) dump(b, t, af, "filter");
  }
  dump(b, t, af, "filter");
}

}  // namespace

void scenario_random_corruptions(Backend& b, Trace& t) {
  random_corruptions<Ipv4>(b, t);
  random_corruptions<Ipv6>(b, t);
}

void scenario_initial_tables(Backend& b, Trace& t) {
  for (int af : {AF_INET, AF_INET6}) {
    for (const char* table : kTables) dump(b, t, af, table);
    get_info(b, t, af, "filter", sizeof(ipt_getinfo) - 1);
    get_info(b, t, af, "filter", sizeof(ipt_getinfo) + 1);
    const ipt_getinfo info = get_info(b, t, af, "filter");
    get_entries(b, t, af, "filter", info.size, -1);
    get_entries(b, t, af, "filter", info.size, 1);
    get_entries(b, t, af, "filter", info.size - 8, 0);  // consistent but stale size: EAGAIN
    get_entries(b, t, af, "nosuch", info.size, 0);
    get_entries(b, t, af, "filter", 0, -40);            // shorter than the header
    for (bool target : {false, true}) {
      for (const char* name : {"tcp", "udp", "icmp", "icmp6", "comment", "REJECT", "", "ERROR",
                               "nosuch", "multiport", "conntrack", "state", "mark", "MARK"}) {
        for (uint8_t rev : {0, 1, 2, 3}) revision(b, t, af, target, name, rev);
      }
      revision(b, t, af, target, target ? "REJECT" : "tcp", 5);
    }
  }
}

void scenario_replace_and_counters(Backend& b, Trace& t) {
  replace_and_counters<Ipv4>(b, t);
  replace_and_counters<Ipv6>(b, t);
}

void scenario_bad_blobs(Backend& b, Trace& t) {
  bad_blobs<Ipv4>(b, t);
  bad_blobs<Ipv6>(b, t);
}

}  // namespace nfbpf::nfnl::sockopt::testing
