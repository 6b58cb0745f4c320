// The lowered IR against the kernel's x_tables: the same iptables-legacy rules run in the kernel
// (in a fresh network namespace, frames sent over a veth pair into the prerouting hook) and, as
// lowered IR, in the reference evaluator (translate/eval) on the same frames. Every entry's
// counter (packets and bytes, read back from GET_ENTRIES) must equal the evaluator's counter of
// the rule lowered from it. Root (label root).
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/ipt/lower.h"
#include "translate/ipt/testing/kernel_capture.h"
#include "translate/ir/printer.h"
#include "translate/ir/validate.h"

namespace nfbpf::translate::ipt {
namespace {

using packet::Packet;

struct Outcome {
  size_t compared = 0;
  uint64_t total_packets = 0;
};

// Runs `commands` in the kernel with `pkts`, lowers the captured table, evaluates the same
// packets at PREROUTING from v1, and compares every entry's counter.
Outcome run_and_compare(int family, const std::string& table, std::vector<std::string> commands, const std::vector<Packet>& pkts) {
  Outcome o;
  std::vector<std::vector<uint8_t>> frames;
  for (const auto& p : pkts) frames.push_back(Packet(p).ether("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff").bytes());
  auto k = testing::capture({.family = family, .table = table, .commands = std::move(commands), .frames = frames});
  EXPECT_TRUE(k) << k.error().describe();
  if (!k) return o;
  auto t = lower_ipt_table(k->blob());
  EXPECT_TRUE(t) << t.error().describe();
  if (!t) return o;
  auto valid = ir::validate(*t);
  EXPECT_TRUE(valid) << valid.error().describe();

  eval::EvalState st;
  for (const auto& p : pkts) {
    eval::PacketContext ctx{.family = family == AF_INET6 ? ir::Family::kIp6 : ir::Family::kIp, .hook = ir::Hook::kPrerouting,
                            .in = eval::Device{.name = "v1", .ifindex = 3}, .pkttype = 1 /* broadcast */};
    auto r = eval::evaluate(*t, ctx, p.l3(), st);
    EXPECT_TRUE(r) << r.error().describe();
  }
  const auto kernel = k->counters();
  for (const auto& c : t->chains) {
    // Only what the frames reach: v1's own IPv6 chatter (router solicitations, MLD) crosses
    // OUTPUT and POSTROUTING at times the test does not control.
    if (c.base && c.base->hook != ir::Hook::kPrerouting) continue;
    for (const auto& rule : c.rules) {
      if (rule.handle >= kSyntheticHandle) continue;
      uint32_t at = 0;
      while (at < rule.steps.size() && !std::holds_alternative<ir::Counter>(rule.steps[at])) ++at;
      EXPECT_LT(at, rule.steps.size());
      const auto mine = st.counters[eval::StepRef{{t->name, c.name, rule.handle}, at}];
      EXPECT_LT(rule.handle, kernel.size());
      if (rule.handle >= kernel.size()) continue;
      const auto [kp, kb] = kernel[rule.handle];
      EXPECT_EQ(mine.packets, kp) << c.name << " entry " << rule.handle << ": " << ir::to_string(rule);
      EXPECT_EQ(mine.bytes, kb) << c.name << " entry " << rule.handle << ": " << ir::to_string(rule);
      o.total_packets += kp;
      ++o.compared;
    }
  }
  return o;
}

std::vector<std::string> prefixed(const char* bin, std::vector<std::string> args) {
  for (auto& a : args) a = std::string(bin) + " -t mangle " + a;
  return args;
}

TEST(IptKernelDiff, Ipv4CountersMatchTheKernel) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  auto cmds = prefixed("iptables-legacy", {
      "-N sub", "-N sub2",
      "-A PREROUTING -p tcp --dport 22",
      "-A PREROUTING -s 10.0.0.0/8",
      "-A PREROUTING ! -s 10.0.0.0/8",
      "-A PREROUTING -d 10.9.9.0/24 ! -s 10.1.1.1",
      "-A PREROUTING -p tcp --tcp-flags SYN,ACK SYN",
      "-A PREROUTING -p tcp ! --tcp-flags SYN,ACK SYN",
      "-A PREROUTING -p udp --dport 1000:2000",
      "-A PREROUTING -p udp ! --sport 5",
      "-A PREROUTING ! -p tcp",
      "-A PREROUTING -p 0",
      "-A PREROUTING -f",
      "-A PREROUTING ! -f",
      "-A PREROUTING -i v+",
      "-A PREROUTING ! -i v0",
      "-A PREROUTING -i v1",
      "-A PREROUTING -p tcp -m multiport --dports 22,80,1000:1100",
      "-A PREROUTING -p tcp -m multiport --ports 22",
      "-A PREROUTING -p udp -m multiport ! --ports 53",
      "-A PREROUTING -m iprange --src-range 10.0.0.1-10.0.0.9",
      "-A PREROUTING -m iprange ! --dst-range 10.9.9.0-10.9.9.8",
      "-A PREROUTING -p icmp --icmp-type echo-request",
      "-A PREROUTING -p icmp ! --icmp-type echo-request",
      "-A PREROUTING -p icmp --icmp-type destination-unreachable",
      "-A PREROUTING -m length --length 0:60",
      "-A PREROUTING -m length ! --length 41",
      "-A PREROUTING -m ttl --ttl-gt 10",
      "-A PREROUTING -m ttl --ttl-eq 1",
      "-A PREROUTING -m dscp --dscp 46",
      "-A PREROUTING -m pkttype --pkt-type broadcast",
      "-A PREROUTING -m pkttype ! --pkt-type host",
      "-A PREROUTING -m comment --comment x -p tcp ! --sport 1234",
      "-A PREROUTING -p tcp --dport 80 -j MARK --set-mark 5",
      "-A PREROUTING -m mark --mark 5",
      "-A PREROUTING -m mark ! --mark 0x4/0x4",
      "-A PREROUTING -m limit --limit 2/sec --limit-burst 3",
      "-A PREROUTING -d 10.9.9.9 -j sub",
      "-A PREROUTING -p tcp --dport 443 -j DROP",
      "-A PREROUTING -p icmp -j RETURN",  // to the underflow entry, which counts
      "-A PREROUTING",
      "-A sub -p tcp --dport 80 -j RETURN",
      "-A sub -p udp -g sub2",
      "-A sub",
      "-A sub2 -p udp --dport 53 -j RETURN",
      "-A sub2",
  });
  auto v4 = [](const char* src = "10.1.1.1", const char* dst = "10.9.9.9") { return Packet::ipv4(src, dst); };
  std::vector<Packet> pkts = {
      v4().tcp(1234, 22).flags(packet::tcp::kSyn),
      v4().tcp(1234, 80).flags(packet::tcp::kAck),
      v4().tcp(1234, 80).flags(packet::tcp::kSyn | packet::tcp::kAck),
      v4("11.0.0.1").udp(5, 53),
      v4("11.0.0.1").udp(6, 1500),
      v4("11.0.0.1", "10.9.9.8").udp(5, 2001),
      v4("10.0.0.3").tcp(9, 1050).payload_size(100),
      v4("10.0.0.3").tcp(9, 443),
      v4().fragment(16, false).tcp(1234, 22).flags(packet::tcp::kSyn),  // non-first: no L4 match holds
      v4().fragment(0, true).tcp(1234, 22).flags(packet::tcp::kSyn),   // first fragment: L4 matches work
      v4().fragment(8, false).tcp(1234, 22),  // offset 8: the first tcp match drops it (hotdrop)
      v4("12.0.0.1", "10.9.9.8").ttl(1).icmp_echo(1, 1),
      v4("12.0.0.1", "10.9.9.9").icmp(3, 1),
      v4("12.0.0.1", "10.9.9.9").icmp(11, 0),
      v4().ip_options({1, 1, 1, 1}).tcp(9, 22),
      v4("10.3.3.3").tos(0xb8).udp(5, 22),
      v4("10.3.3.3").l4(47, {0, 0, 0x08, 0x00}),  // GRE: no tcp/udp/icmp match
  };
  Outcome o = run_and_compare(AF_INET, "mangle", cmds, pkts);
  EXPECT_GE(o.compared, 46u);
  EXPECT_GE(o.total_packets, 2 * pkts.size());  // guard against a vacuous pass
}

TEST(IptKernelDiff, Ipv6CountersMatchTheKernel) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  auto cmds = prefixed("ip6tables-legacy", {
      "-N sub",
      "-A PREROUTING -p tcp --dport 22",
      "-A PREROUTING -p all",
      "-A PREROUTING ! -p tcp",
      "-A PREROUTING -s 2001:db8::1",
      "-A PREROUTING ! -s 2001:db8::/64",
      "-A PREROUTING -p ipv6-icmp --icmpv6-type echo-request",
      "-A PREROUTING -p udp -m multiport --dports 50:60",
      "-A PREROUTING -m hl --hl-eq 64",
      "-A PREROUTING -m hl --hl-lt 10",
      "-A PREROUTING -m length --length 40:60",
      "-A PREROUTING -m dscp --dscp 10",
      "-A PREROUTING -m iprange --dst-range 2001:db8::2-2001:db8::ff",
      "-A PREROUTING -p tcp -j sub",
      "-A PREROUTING -p udp --dport 53 -g sub",  // IP6T_F_GOTO: sub's end applies the policy
      "-A PREROUTING",
      "-A sub -p tcp --sport 1 -j RETURN",
      "-A sub",
  });
  auto v6 = [](const char* src = "2001:db8::1") { return Packet::ipv6(src, "2001:db8::2"); };
  auto ah_body = [] {
    std::vector<uint8_t> b(23, 0);  // after the next-header byte: 24 bytes in all
    b[0] = 4;                       // (4 + 2) * 4
    return b;
  };
  std::vector<Packet> pkts = {
      v6().tcp(1, 22),
      v6().tcp(2, 22).hop_limit(5),
      v6().hop_by_hop().dest_opts().tcp(1, 22),
      v6().fragment(0, true).tcp(1, 22),
      v6().fragment(16, false).tcp(1, 22),
      v6("2001:db9::1").udp(1, 53),
      v6().traffic_class(10 << 2).udp(1, 2),
      v6().icmp6_echo(1, 1),
      v6().icmp6(1, 0),
      // ip6_tables walks through AH ((hdrlen + 2) * 4 bytes; nft's pktinfo stops there); -p drops
      // the packet (hotdrop) when the walk fails (a non-first fragment of an extension header);
      // a header claiming more bytes than the packet has does not fail it (6.18), the tcp match
      // then finds no TCP header (its own hotdrop).
      v6().ext_header(51, ah_body()).tcp(1, 22),
      v6().dest_opts().ext_header(51, ah_body()).udp(1, 55),
      v6().fragment(8, false).dest_opts().tcp(1, 22),
      v6().ext_header(60, {6, 200, 0, 0, 0, 0, 0}).tcp(1, 22),
  };
  Outcome o = run_and_compare(AF_INET6, "mangle", cmds, pkts);
  EXPECT_GE(o.compared, 18u);
  EXPECT_GE(o.total_packets, 2 * pkts.size());
}

}  // namespace
}  // namespace nfbpf::translate::ipt
