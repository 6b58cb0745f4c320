// The evaluator against the kernel itself: the same rules as an nft ruleset (in a private network
// namespace) and as hand-written IR, the same crafted frames sent over a veth pair into the
// prerouting hook, and every rule's counter compared (packets and bytes). Root only (label
// "root"): it creates a namespace, a veth pair and an nf_tables ruleset inside it.
#include <arpa/inet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/ir/build.h"

namespace nfbpf::eval {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;

constexpr const char* kRuleset = R"(
table ip t {
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    tcp dport 22 counter
    ip saddr 10.0.0.0/8 counter
    tcp flags & (syn | ack) == syn counter
    udp dport 1000-2000 counter
    meta l4proto tcp counter
    ip daddr 10.9.9.9 counter jump sub
    ip ttl 1 counter drop
    counter
  }
  chain sub {
    tcp dport 80 counter return
    udp dport 53 counter goto sub2
    counter
  }
  chain sub2 {
    counter
  }
  chain pre2 {
    type filter hook prerouting priority 10; policy accept;
    meta l4proto tcp @th,8,16 0xd200 counter
    meta l4proto tcp @th,0,64 0x04d2001600000000 counter
    meta l4proto tcp @th,16,16 22 counter
  }
}
table ip6 t6 {
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    tcp dport 22 counter
    meta l4proto tcp counter
    meta l4proto 59 counter
    meta l4proto 51 counter
    ip6 nexthdr 0 counter
    counter
  }
  chain pre2 {
    type filter hook prerouting priority 10; policy accept;
    meta l4proto tcp @th,0,16 0x6000 counter
    meta l4proto tcp @th,8,16 0x0100 counter
  }
}
table netdev nd {
  chain ing {
    type filter hook ingress device v1 priority 0; policy accept;
    ether saddr 02:00:00:00:00:01 counter
    meta length 40 counter
    ip saddr 10.1.1.1 counter
    tcp dport 22 counter
    meta protocol ip6 counter
    counter
  }
}
table netdev nde {
  chain egr {
    type filter hook egress device v0 priority 0; policy accept;
    meta length 54 counter
    ip saddr 10.1.1.1 tcp dport 22 counter
    ether daddr ff:ff:ff:ff:ff:ff counter
    counter
  }
}
table inet tii {
  chain ing {
    type filter hook ingress device v1 priority 10; policy accept;
    meta nfproto ipv4 counter
    tcp dport 22 counter
    counter
  }
}
table inet ti {
  set cs { type ipv4_addr . inet_service; flags interval; elements = { 10.0.0.0-10.0.0.255 . 1000-2000 }; }
  set ex { type ipv4_addr; elements = { 10.1.1.1, 10.2.2.2 }; }
  chain pre {
    type filter hook prerouting priority 20; policy accept;
    ip saddr . tcp dport @cs counter
    ip saddr @ex counter
    meta mark set 5 counter
    meta mark 5 counter
    tcp dport vmap { 22 : jump vsub, 80 : drop, 81 : accept }
    counter
  }
  chain vsub {
    counter
  }
}
table ip t2 {
  chain c {
    type filter hook prerouting priority 30; policy accept;
    meta iifname "v*" counter
    meta iifname "v0" counter
    meta pkttype broadcast counter
    ip dscp 46 counter
    ip length > 40 counter
    meta mark < 0x100 counter
    quota 100 bytes counter
    limit rate 1/minute burst 3 packets counter
  }
}
table ip6 t62 {
  chain c {
    type filter hook prerouting priority 30; policy accept;
    ip6 flowlabel 0 counter
    ip6 hoplimit 64 counter
  }
}
table inet ti2 {
  chain c {
    type filter hook prerouting priority 30; policy accept;
    th dport 22 counter
  }
}
)";

ir::Rule counted(uint64_t h, std::initializer_list<ir::Match> matches, ir::Verdict v = {}) {
  ir::Rule r{.handle = h, .verdict = std::move(v)};
  for (const auto& m : matches) r.steps.emplace_back(std::in_place_type<ir::Match>, m);
  r.steps.emplace_back(std::in_place_type<ir::Counter>);
  return r;
}
ir::Match l4(uint8_t p) { return b::eq(KnownField::kMetaL4Proto, b::u8(p)); }
// @th,<offset*8>,<len*8> == value
ir::Match raw_th(uint32_t offset, ir::Bytes value) {
  ir::Field f{.base = ir::Base::kTransport, .offset = offset, .len = static_cast<uint32_t>(value.size())};
  return ir::Match{.key = {f}, .op = ir::Op::kEq, .value = std::move(value)};
}

// The same rules in IR, rule handles = position in the chain.
ir::Ruleset ruleset_ir() {
  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  t.chains.push_back(ir::Chain{
      .name = "pre", .base = ir::BaseHook{.hook = ir::Hook::kPrerouting},
      .rules = {counted(0, {l4(6), b::eq(KnownField::kTcpDport, b::be16(22))}),
                counted(1, {b::prefix(KnownField::kIp4Saddr, *b::ip4("10.0.0.0"), 8)}),
                counted(2, {l4(6), b::masked(KnownField::kTcpFlags, {0x12}, ir::Op::kEq, {0x02})}),
                counted(3, {l4(17), b::range(KnownField::kUdpDport, b::be16(1000), b::be16(2000))}),
                counted(4, {l4(6)}),
                counted(5, {b::eq(KnownField::kIp4Daddr, *b::ip4("10.9.9.9"))}, b::jump("sub")),
                counted(6, {b::eq(KnownField::kIp4Ttl, b::u8(1))}, b::drop()),
                counted(7, {})}});
  t.chains.push_back(ir::Chain{.name = "sub",
                               .rules = {counted(0, {l4(6), b::eq(KnownField::kTcpDport, b::be16(80))}, b::ret()),
                                         counted(1, {l4(17), b::eq(KnownField::kUdpDport, b::be16(53))}, b::go_to("sub2")),
                                         counted(2, {})}});
  t.chains.push_back(ir::Chain{.name = "sub2", .rules = {counted(0, {})}});
  t.chains.push_back(ir::Chain{.name = "pre2", .base = ir::BaseHook{.hook = ir::Hook::kPrerouting, .priority = 10},
                               .rules = {counted(0, {l4(6), raw_th(1, {0xd2, 0x00})}),
                                         counted(1, {l4(6), raw_th(0, {0x04, 0xd2, 0x00, 0x16, 0, 0, 0, 0})}),
                                         counted(2, {l4(6), raw_th(2, {0x00, 0x16})})}});
  ir::Table t6{.family = ir::Family::kIp6, .name = "t6"};
  t6.chains.push_back(ir::Chain{
      .name = "pre", .base = ir::BaseHook{.hook = ir::Hook::kPrerouting},
      .rules = {counted(0, {l4(6), b::eq(KnownField::kTcpDport, b::be16(22))}), counted(1, {l4(6)}), counted(2, {l4(59)}),
                counted(3, {l4(51)}), counted(4, {b::eq(KnownField::kIp6NextHdr, b::u8(0))}), counted(5, {})}});
  t6.chains.push_back(ir::Chain{.name = "pre2", .base = ir::BaseHook{.hook = ir::Hook::kPrerouting, .priority = 10},
                                .rules = {counted(0, {l4(6), raw_th(0, {0x60, 0x00})}), counted(1, {l4(6), raw_th(1, {0x01, 0x00})})}});
  ir::Table nd{.family = ir::Family::kNetdev, .name = "nd"};
  ir::Field ether_saddr{.base = ir::Base::kLink, .offset = 6, .len = 6, .proto = ir::Proto::kEth};
  ir::Match proto4 = b::eq(KnownField::kMetaProtocol, b::be16(0x0800));
  nd.chains.push_back(ir::Chain{
      .name = "ing", .base = ir::BaseHook{.hook = ir::Hook::kIngress, .devices = {"v1"}},
      .rules = {counted(0, {b::eq(KnownField::kMetaIifType, {1, 0}), ir::Match{.key = {ether_saddr}, .op = ir::Op::kEq, .value = {2, 0, 0, 0, 0, 1}}}),
                counted(1, {b::eq(KnownField::kMetaLen, b::host32(40))}),
                counted(2, {proto4, b::eq(KnownField::kIp4Saddr, *b::ip4("10.1.1.1"))}),
                counted(3, {l4(6), b::eq(KnownField::kTcpDport, b::be16(22))}),
                counted(4, {b::eq(KnownField::kMetaProtocol, b::be16(0x86dd))}),
                counted(5, {})}});

  ir::Table ne{.family = ir::Family::kNetdev, .name = "nde"};
  ir::Field ether_daddr{.base = ir::Base::kLink, .offset = 0, .len = 6, .proto = ir::Proto::kEth};
  ne.chains.push_back(ir::Chain{
      .name = "egr", .base = ir::BaseHook{.hook = ir::Hook::kEgress, .devices = {"v0"}},
      .rules = {counted(0, {b::eq(KnownField::kMetaLen, b::host32(54))}),
                counted(1, {proto4, b::eq(KnownField::kIp4Saddr, *b::ip4("10.1.1.1")), l4(6), b::eq(KnownField::kTcpDport, b::be16(22))}),
                counted(2, {b::eq(KnownField::kMetaIifType, {1, 0}), ir::Match{.key = {ether_daddr}, .op = ir::Op::kEq, .value = ir::Bytes(6, 0xff)}}),
                counted(3, {})}});
  ir::Table tii{.family = ir::Family::kInet, .name = "tii"};
  tii.chains.push_back(ir::Chain{.name = "ing", .base = ir::BaseHook{.hook = ir::Hook::kIngress, .priority = 10, .devices = {"v1"}},
                                 .rules = {counted(0, {b::eq(KnownField::kMetaNfProto, b::u8(2))}),
                                           counted(1, {l4(6), b::eq(KnownField::kTcpDport, b::be16(22))}), counted(2, {})}});
  ir::Table ti{.family = ir::Family::kInet, .name = "ti"};
  auto cat = [](std::string_view a, uint16_t port) {
    ir::Bytes k = *b::ip4(a);
    k.insert(k.end(), {static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port), 0, 0});
    return k;
  };
  ti.sets.push_back(ir::Set{.name = "cs", .flags = ir::kSetInterval | ir::kSetConcat, .key_parts = {4, 2}, .key_len = 8,
                            .elements = {{.key = cat("10.0.0.0", 1000), .key_end = cat("10.0.0.255", 2000)}}});
  ti.sets.push_back(ir::Set{.name = "ex", .key_parts = {4}, .key_len = 4,
                            .elements = {{.key = *b::ip4("10.1.1.1")}, {.key = *b::ip4("10.2.2.2")}}});
  ti.sets.push_back(ir::Set{.name = "__map0", .flags = ir::kSetMap | ir::kSetAnonymous | ir::kSetConstant, .key_parts = {2}, .key_len = 2,
                            .verdict_map = true,
                            .elements = {{.key = b::be16(22), .verdict = b::jump("vsub")}, {.key = b::be16(80), .verdict = b::drop()},
                                         {.key = b::be16(81), .verdict = b::accept()}}});
  ir::Match nf4 = b::eq(KnownField::kMetaNfProto, b::u8(2));
  ir::Field saddr = ir::known_field(KnownField::kIp4Saddr), dport = ir::known_field(KnownField::kTcpDport);
  ir::Rule mark_set{.handle = 2, .steps = {ir::SetMark{.clear = 0xffffffff, .value = 5}, ir::Counter{}}};
  ir::Rule vmap{.handle = 4, .steps = {l4(6), ir::VerdictMap{.key = {dport}, .set = "__map0"}}};
  ti.chains.push_back(ir::Chain{
      .name = "pre", .base = ir::BaseHook{.hook = ir::Hook::kPrerouting, .priority = 20},
      .rules = {counted(0, {nf4, l4(6), b::in_set({saddr, dport}, "cs")}), counted(1, {nf4, b::in_set({saddr}, "ex")}), mark_set,
                counted(3, {b::eq(KnownField::kMetaMark, b::host32(5))}), vmap, counted(5, {})}});
  ti.chains.push_back(ir::Chain{.name = "vsub", .rules = {counted(0, {})}});
  // Some rules as verbatim register blocks (the nft expressions as --debug=netlink shows them).
  namespace r = ir::reg;
  ir::Table t2{.family = ir::Family::kIp, .name = "t2"};
  ir::Bytes v_mask(16, 0), v_val(16, 0);
  v_mask[0] = 0xff;
  v_val[0] = 'v';
  ir::Rule mark_lt{.handle = 5,
                   .steps = {ir::RegisterBlock{{r::Load{4, ir::known_field(KnownField::kMetaMark)}, r::ByteOrder{4, 4, true, 4, 4},
                                                r::Cmp{4, ir::Op::kLt, {0x00, 0x00, 0x01, 0x00}}}},
                             ir::Counter{}}};
  ir::Rule quota{.handle = 6, .steps = {ir::Quota{.bytes = 100}, ir::Counter{}}};
  ir::Rule limit{.handle = 7, .steps = {ir::Limit{.rate = 1, .unit_seconds = 60, .burst = 3}, ir::Counter{}}};
  t2.chains.push_back(ir::Chain{
      .name = "c", .base = ir::BaseHook{.hook = ir::Hook::kPrerouting, .priority = 30},
      .rules = {counted(0, {b::masked(KnownField::kMetaIifName, v_mask, ir::Op::kEq, v_val)}),
                counted(1, {b::eq(KnownField::kMetaIifName, b::ifname("v0"))}),
                counted(2, {b::eq(KnownField::kMetaPktType, b::u8(1))}),
                counted(3, {b::masked(KnownField::kIp4Dscp, {0xfc}, ir::Op::kEq, {0xb8})}),
                counted(4, {b::cmp(KnownField::kIp4Length, ir::Op::kGt, b::be16(40))}), mark_lt, quota, limit}});
  ir::Table t62{.family = ir::Family::kIp6, .name = "t62"};
  ir::Rule flow{.handle = 0,
                .steps = {ir::RegisterBlock{{r::Load{4, ir::Field{.base = ir::Base::kNetwork, .offset = 1, .len = 3}},
                                             r::Bitwise{4, 4, 3, {0x0f, 0xff, 0xff}, {0, 0, 0}}, r::Cmp{4, ir::Op::kEq, {0, 0, 0}}}},
                          ir::Counter{}}};
  t62.chains.push_back(ir::Chain{.name = "c", .base = ir::BaseHook{.hook = ir::Hook::kPrerouting, .priority = 30},
                                 .rules = {flow, counted(1, {b::eq(KnownField::kIp6HopLimit, b::u8(64))})}});
  ir::Table ti2{.family = ir::Family::kInet, .name = "ti2"};
  ti2.chains.push_back(ir::Chain{.name = "c", .base = ir::BaseHook{.hook = ir::Hook::kPrerouting, .priority = 30},
                                 .rules = {counted(0, {raw_th(2, {0x00, 0x16})})}});
  return ir::Ruleset{.tables = {t, t6, nd, ne, tii, ti, t2, t62, ti2}};
}

std::vector<Packet> packets() {
  auto v4 = [](const char* src = "10.1.1.1", const char* dst = "10.9.9.9") { return Packet::ipv4(src, dst); };
  auto v6 = [] { return Packet::ipv6("2001:db8::1", "2001:db8::2"); };
  packet::Bytes ah = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};  // payload len 1: 12 bytes
  return {
      v4().tcp(1234, 22).flags(packet::tcp::kSyn),
      v4().tcp(1234, 80).flags(packet::tcp::kAck),
      v4().tcp(1234, 80).flags(packet::tcp::kSyn | packet::tcp::kAck),
      v4("11.0.0.1").udp(5, 53),
      v4("11.0.0.1").udp(5, 1500),
      v4("11.0.0.1", "10.9.9.8").udp(5, 2001),
      v4().fragment(8, false).tcp(1234, 22).flags(packet::tcp::kSyn),  // non-first: no transport reads
      v4().fragment(0, true).tcp(1234, 22).flags(packet::tcp::kSyn),   // first: transport reads work
      v4().tcp(1234, 22).total_length(23).truncate(23),                // 3 bytes of TCP: dport cut
      v4().tcp(1234, 22).total_length(24).truncate(24),                // 4 bytes: dport complete
      v4("12.0.0.1", "10.9.9.8").ttl(1).icmp_echo(1, 1),
      v4().ip_options({1, 1, 1, 1}).tcp(9, 22),
      v6().tcp(1, 22),
      v6().hop_by_hop().dest_opts().tcp(1, 22),
      v6().fragment(0, true).tcp(1, 22),
      v6().fragment(16, false).tcp(1, 22),
      v6(),
      v6().ext_header(51, ah).tcp(1, 22),
      v6().hop_by_hop().udp(1, 2),
      v4("10.0.0.7").tcp(1, 1500),
      v4("10.0.0.7").tcp(1, 999),   // inside the whole-key range, outside the port range
      v4("10.0.1.0").tcp(1, 1500),
      v4("10.2.2.2").tcp(1, 81),
      v4("10.3.3.3").tos(0xb8).udp(5, 22),
      v6().flow_label(0x12345).hop_limit(3).udp(1, 22),
  };
}

// Frames the IP stack drops before prerouting: only the netdev ingress hook sees them.
std::vector<Packet> malformed() {
  return {Packet::ipv4("10.1.1.1", "10.9.9.9").tcp(1, 22).total_length(100),
          Packet::ipv4("10.1.1.1", "10.9.9.9").tcp(1, 22).ihl(4),
          Packet::ipv4("10.1.1.1", "10.9.9.9").tcp(1, 22).ethertype(0x88b5)};  // not IP at all
}

// Runs in a child in a fresh network namespace; returns `nft -j list ruleset` after the frames.
std::string run_in_kernel(std::vector<Packet> pkts, std::string& err) {
  for (auto& p : malformed()) pkts.push_back(p);
  int fds[2];
  if (pipe(fds) != 0) return err = "pipe", "";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto die = [&](const char* what) {
      dprintf(fds[1], "ERR %s", what);
      _exit(1);
    };
    if (unshare(CLONE_NEWNET) != 0) die("unshare");
    if (system("ip link set lo up && ip link add v0 type veth peer name v1 && sysctl -qw net.ipv6.conf.v0.disable_ipv6=1 && ip link set v0 up && ip link set v1 up") != 0)
      die("ip link");
    char path[] = "/tmp/nfbpf-eval-diff-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp");
    if (write(fd, kRuleset, strlen(kRuleset)) < 0) die("write");
    close(fd);
    std::string cmd = std::string("nft -f ") + path;
    int rc = system(cmd.c_str());
    unlink(path);
    if (rc != 0) die("nft -f");
    int s = socket(AF_PACKET, SOCK_RAW, 0);
    if (s < 0) die("socket");
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(if_nametoindex("v0"));
    to.sll_halen = 6;
    for (const auto& p : pkts) {
      auto f = Packet(p).ether("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff").bytes();
      if (sendto(s, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != static_cast<ssize_t>(f.size()))
        die("sendto");
    }
    usleep(200 * 1000);
    FILE* out = popen("nft -j list ruleset", "r");
    if (!out) die("popen");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), out)) > 0)
      if (write(fds[1], buf, n) < 0) die("write");
    pclose(out);
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) err = "child failed: " + text;
  return text;
}

TEST(KernelDiff, RuleCountersMatchTheKernel) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  auto pkts = packets();
  std::string err;
  std::string json = run_in_kernel(pkts, err);
  ASSERT_TRUE(err.empty()) << err;

  // Kernel counters by (table, chain, position in chain).
  std::map<std::tuple<std::string, std::string, uint64_t>, CounterValue> kernel;
  std::map<std::pair<std::string, std::string>, uint64_t> pos;
  auto doc = nlohmann::json::parse(json);
  for (const auto& item : doc["nftables"]) {
    if (!item.contains("rule")) continue;
    const auto& r = item["rule"];
    std::string table = r["table"], chain = r["chain"];
    uint64_t i = pos[{table, chain}]++;
    for (const auto& e : r["expr"])
      if (e.contains("counter")) kernel[{table, chain, i}] = {e["counter"]["packets"], e["counter"]["bytes"]};
  }

  // The evaluator, frame by frame: netdev ingress on v1, then (for frames the stack accepts)
  // ip/ip6 prerouting with the mark ingress left.
  ir::Ruleset rs = ruleset_ir();
  EvalState st;
  auto feed = [&](const Packet& p, bool well_formed) {
    Device v1{.name = "v1", .ifindex = 3};
    auto frame = Packet(p).ether("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff").bytes();
    PacketContext egr{.family = ir::Family::kNetdev, .hook = ir::Hook::kEgress, .out = Device{.name = "v0", .ifindex = 2}, .l2_len = 14};
    auto r0 = evaluate(rs, egr, frame, st);
    ASSERT_TRUE(r0) << r0.error().describe();
    PacketContext ing{.family = ir::Family::kNetdev, .hook = ir::Hook::kIngress, .in = v1, .l2_len = 14, .pkttype = 1};
    auto r = evaluate(rs, ing, frame, st);
    ASSERT_TRUE(r) << r.error().describe();
    if (!well_formed || r->verdict == ir::VerdictKind::kDrop) return;
    PacketContext pre{.family = p.is_ipv6() ? ir::Family::kIp6 : ir::Family::kIp, .hook = ir::Hook::kPrerouting,
                      .in = v1, .mark = r->mark, .pkttype = 1 /* broadcast */};
    auto r2 = evaluate(rs, pre, p.l3(), st);
    ASSERT_TRUE(r2) << r2.error().describe();
  };
  for (const auto& p : pkts) feed(p, true);
  for (const auto& p : malformed()) feed(p, false);
  size_t compared = 0;
  for (const auto& t : rs.tables)
    for (const auto& c : t.chains)
      for (const auto& rule : c.rules) {
        if (rule.steps.empty() || !std::holds_alternative<ir::Counter>(rule.steps.back())) continue;
        auto k = kernel.find({t.name, c.name, rule.handle});
        ASSERT_NE(k, kernel.end()) << t.name << "/" << c.name << " rule " << rule.handle << " not in the kernel listing";
        CounterValue mine = st.counters[StepRef{{t.name, c.name, rule.handle}, static_cast<uint32_t>(rule.steps.size() - 1)}];
        EXPECT_EQ(mine.packets, k->second.packets) << t.name << "/" << c.name << " rule " << rule.handle;
        EXPECT_EQ(mine.bytes, k->second.bytes) << t.name << "/" << c.name << " rule " << rule.handle;
        ++compared;
      }
  EXPECT_EQ(compared, kernel.size());
  // Guard against a vacuous pass: the frames did reach the hooks.
  EXPECT_EQ((kernel[{"nd", "ing", 5}].packets), pkts.size() + malformed().size());
  EXPECT_GE((kernel[{"t", "pre", 7}].packets), 10u);
  EXPECT_EQ((kernel[{"t6", "pre", 5}].packets), 8u);
  EXPECT_EQ((kernel[{"ti", "pre", 0}].packets), 1u);
  EXPECT_EQ((kernel[{"nde", "egr", 3}].packets), pkts.size() + malformed().size());  // egress saw every frame
  EXPECT_EQ((kernel[{"tii", "ing", 2}].packets), pkts.size());  // inet ingress: malformed dropped, non-IP skipped  // only 10.0.0.7:1500 is in the concatenated ranges
  if (getenv("NFBPF_DUMP_COUNTERS"))
    for (const auto& [k, v] : kernel)
      printf("%s/%s/%lu %lu %lu\n", std::get<0>(k).c_str(), std::get<1>(k).c_str(), static_cast<unsigned long>(std::get<2>(k)),
             static_cast<unsigned long>(v.packets), static_cast<unsigned long>(v.bytes));
}

}  // namespace
}  // namespace nfbpf::eval
