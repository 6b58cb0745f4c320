// Golden tests: tables iptables-legacy built in the kernel (captured from GET_ENTRIES in a fresh
// network namespace), lowered to IR, printed, and compared with text checked by reading it
// against the rules; and the precise refusals. Root (label root): unshare + iptables-legacy.
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter_ipv4/ip_tables.h>

#include <cstring>

#include <gtest/gtest.h>

#include "translate/ipt/lower.h"
#include "translate/ipt/testing/kernel_capture.h"
#include "translate/ir/printer.h"
#include "translate/ir/validate.h"

namespace nfbpf::translate::ipt {
namespace {

using testing::capture;
using testing::CaptureRequest;

std::string lowered(int family, std::string table, std::vector<std::string> commands) {
  auto k = capture(CaptureRequest{.family = family, .table = table, .commands = std::move(commands)});
  if (!k) return "capture: " + k.error().describe();
  auto t = lower_ipt_table(k->blob());
  if (!t) return "lower: " + t.error().describe();
  if (auto v = ir::validate(*t); !v) return "validate: " + v.error().describe();
  return ir::to_string(*t);
}

Result<ir::Table> lower_cmds(int family, std::string table, std::vector<std::string> commands) {
  auto k = capture(CaptureRequest{.family = family, .table = table, .commands = std::move(commands)});
  if (!k) return std::unexpected(k.error());
  return lower_ipt_table(k->blob());
}

constexpr const char* I = "iptables-legacy ";
constexpr const char* I6 = "ip6tables-legacy ";
std::string ipt(const char* bin, const char* args) { return std::string(bin) + args; }

// User chains, jump and goto, RETURN (user-added and libiptc's chain end), the policy from the
// underflow entry, address masks, "eth+" and "! -o lo" interface masks, -f, tcp/udp ports,
// ranges, flags, and comment.
TEST(IptLower, ChainsJumpsAndTheIpPartMatchGolden) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  std::string got = lowered(AF_INET, "filter",
                            {ipt(I, "-N web"),
                             ipt(I, "-A INPUT -s 10.0.0.0/8 -d 192.168.1.1 -i eth+ -p tcp --dport 80 -j web"),
                             ipt(I, "-A INPUT ! -s 1.2.3.4 -f -j DROP"),
                             ipt(I, "-A web -p tcp --sport 1000:2000 --tcp-flags SYN,ACK SYN -m comment --comment hi -j ACCEPT"),
                             ipt(I, "-A web -j RETURN"), ipt(I, "-P INPUT DROP"),
                             ipt(I, "-A OUTPUT ! -o lo -p udp ! --dport 53 -g web")});
  // OUTPUT's goto reaches web's RETURNs with an empty jump stack, where the kernel continues at
  // OUTPUT's underflow entry (counting it): OUTPUT's rules move into OUTPUT@body, jumped to
  // before the underflow rule. INPUT only jumps, so it stays flat. Each tcp match is preceded by
  // tcp_mt's hotdrop of an offset-8 fragment, behind the same earlier tests.
  EXPECT_EQ(got, R"(table ip filter handle 0
  chain INPUT handle 0 hook input priority 0 type filter policy drop
    rule 4294967296: ip saddr & ff000000 == 0a000000; ip daddr == c0a80101; meta iifname & ffffff00000000000000000000000000 == 65746800000000000000000000000000; ip protocol == 06; ip frag-off & 1fff == 0001 -> drop # tcp: fragment at offset 8 (the kernel's hotdrop)
    rule 4294967300: ip saddr & ff000000 == 0a000000; ip daddr == c0a80101; meta iifname & ffffff00000000000000000000000000 == 65746800000000000000000000000000; ip protocol == 06; ip frag-off & 1fff == 0000 -> jump truncated@20
    rule 0: ip saddr & ff000000 == 0a000000; ip daddr == c0a80101; meta iifname & ffffff00000000000000000000000000 == 65746800000000000000000000000000; ip protocol == 06; @th,17,3 & 000000 == 000000; tcp dport == 0050; counter -> jump web
    rule 1: ip saddr != 01020304; ip frag-off & 1fff != 0000; counter -> drop
    rule 2: counter -> drop
  chain FORWARD handle 0 hook forward priority 0 type filter policy accept
    rule 3: counter -> accept
  chain OUTPUT handle 0 hook output priority 0 type filter policy accept
    rule 4294967307: -> jump OUTPUT@body
    rule 5: counter -> accept
  chain web handle 0
    rule 4294967305: ip protocol == 06; ip frag-off & 1fff == 0001 -> drop # tcp: fragment at offset 8 (the kernel's hotdrop)
    rule 4294967306: ip protocol == 06; ip frag-off & 1fff == 0000 -> jump truncated@20
    rule 7: ip protocol == 06; @th,17,3 & 000000 == 000000; tcp sport in-range 03e8-07d0; tcp flags & 12 == 02; counter -> accept # hi
    rule 8: counter -> return
    rule 9: counter -> return
  chain OUTPUT@body handle 0
    rule 4294967304: meta oifname & ffffff00000000000000000000000000 != 6c6f0000000000000000000000000000; ip protocol == 11; ip frag-off & 1fff == 0000 -> jump truncated@8
    rule 4: meta oifname & ffffff00000000000000000000000000 != 6c6f0000000000000000000000000000; ip protocol == 11; @th,5,3 & 000000 == 000000; udp dport != 0035; counter -> goto web
  chain truncated@8 handle 0
    rule 4294967301: @th,7,1 < 80 -> return
    rule 4294967302: @th,7,1 >= 80 -> return
    rule 4294967303: -> drop # transport header shorter than 8 bytes (the kernel's hotdrop)
  chain truncated@20 handle 0
    rule 4294967297: @th,19,1 < 80 -> return
    rule 4294967298: @th,19,1 >= 80 -> return
    rule 4294967299: -> drop # transport header shorter than 20 bytes (the kernel's hotdrop)
)");
}

TEST(IptLower, MatchesAndTargetsGolden) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  std::string got = lowered(
      AF_INET, "filter",
      {ipt(I, "-A INPUT -p tcp -m multiport --dports 22,80,8000:8080 -j ACCEPT"),
       ipt(I, "-A INPUT -p udp -m multiport ! --ports 53,123"),
       ipt(I, "-A INPUT -m iprange --src-range 10.0.0.5-10.0.0.9 ! --dst-range 10.1.0.0-10.1.255.255"),
       ipt(I, "-A INPUT -m mark --mark 0x5/0xff"), ipt(I, "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT"),
       ipt(I, "-A INPUT -m conntrack ! --ctstate NEW,UNTRACKED"),
       ipt(I, "-A INPUT -m conntrack --ctstatus ASSURED --ctdir ORIGINAL"),
       ipt(I, "-A INPUT -m conntrack --ctdir REPLY"), ipt(I, "-A INPUT -m length --length 100:200"),
       ipt(I, "-A INPUT -m ttl --ttl-lt 5"), ipt(I, "-A INPUT -m dscp --dscp 46"),
       ipt(I, "-A INPUT -m pkttype --pkt-type broadcast"), ipt(I, "-A INPUT -m limit --limit 3/min --limit-burst 7"),
       ipt(I, "-A INPUT -p icmp --icmp-type echo-request"), ipt(I, "-A INPUT -p icmp ! --icmp-type destination-unreachable"),
       ipt(I, "-A INPUT -p icmp --icmp-type any"), ipt(I, "-A INPUT -j LOG --log-prefix 'in: ' --log-level 6"),
       ipt(I, "-A INPUT -j MARK --set-xmark 0x10/0xf0"), ipt(I, "-A INPUT -p tcp -m multiport --ports 1:3,9")});
  // Checked by hand: mark and ct values are host-order u32 (05000000 = 5); ESTABLISHED|RELATED =
  // 2|4; NEW|UNTRACKED = 8|64 (conntrack's untracked bit 256 renumbered); ASSURED = 4; --ctdir
  // ORIGINAL = direction 0; 3/min = avg 200000 = rate 3 per 60 s; dscp 46 << 2 = b8; echo-request
  // = type 8, codes 0-255; "! --ports" is neither port in {53,123}; the plain "either" set holds {1-3,9 . any}
  // and {any . 1-3,9}.
  EXPECT_EQ(got, R"(table ip filter handle 0
  set __ipt_multiport0 key_len 2 parts [2] flags 0x7 { 0016-0016, 0050-0050, 1f40-1f90 }
  set __ipt_multiport1 key_len 2 parts [2] flags 0x7 { 0035-0035, 007b-007b }
  set __ipt_multiport2 key_len 8 parts [2,2] flags 0x87 { 0001000000000000-00030000ffff0000, 0009000000000000-00090000ffff0000, 0000000000010000-ffff000000030000, 0000000000090000-ffff000000090000 }
  chain INPUT handle 0 hook input priority 0 type filter policy accept
    rule 4294967299: ip protocol == 06; ip frag-off & 1fff == 0000 -> jump truncated@4
    rule 0: ip protocol == 06; @th,1,3 & 000000 == 000000; tcp dport in @__ipt_multiport0; counter -> accept
    rule 4294967300: ip protocol == 11; ip frag-off & 1fff == 0000 -> jump truncated@4
    rule 1: ip protocol == 11; @th,1,3 & 000000 == 000000; udp sport not-in @__ipt_multiport1; udp dport not-in @__ipt_multiport1; counter -> continue
    rule 2: ip saddr in-range 0a000005-0a000009; ip daddr not-in-range 0a010000-0a01ffff; counter -> continue
    rule 3: meta mark & ff000000 == 05000000; counter -> continue
    rule 4: ct state & 06000000 != 00000000; counter -> accept
    rule 5: ct state & 48000000 == 00000000; counter -> continue
    rule 6: ct status & 04000000 != 00000000; ct direction == 00; counter -> continue
    rule 7: ct direction == 01; counter -> continue
    rule 8: ip length in-range 0064-00c8; counter -> continue
    rule 9: ip ttl < 05; counter -> continue
    rule 10: ip dscp & fc == b8; counter -> continue
    rule 11: meta pkttype == 01; counter -> continue
    rule 12: limit rate 3/60s burst 7; counter -> continue
    rule 4294967304: ip protocol == 01; ip frag-off & 1fff == 0000 -> jump truncated@8
    rule 13: ip protocol == 01; @th,5,3 & 000000 == 000000; @th,0,2 in-range 0800-08ff; counter -> continue
    rule 4294967305: ip protocol == 01; ip frag-off & 1fff == 0000 -> jump truncated@8
    rule 14: ip protocol == 01; @th,5,3 & 000000 == 000000; @th,0,2 not-in-range 0300-03ff; counter -> continue
    rule 4294967306: ip protocol == 01; ip frag-off & 1fff == 0000 -> jump truncated@8
    rule 15: ip protocol == 01; @th,5,3 & 000000 == 000000; counter -> continue
    rule 16: counter; log prefix "in: " level 6 -> continue
    rule 17: counter; mark set (mark & 0xffffff0f) ^ 0x10 -> continue
    rule 4294967307: ip protocol == 06; ip frag-off & 1fff == 0000 -> jump truncated@4
    rule 18: ip protocol == 06; @th,1,3 & 000000 == 000000; tcp sport . tcp dport in @__ipt_multiport2; counter -> continue
    rule 19: counter -> accept
  chain FORWARD handle 0 hook forward priority 0 type filter policy accept
    rule 20: counter -> accept
  chain OUTPUT handle 0 hook output priority 0 type filter policy accept
    rule 21: counter -> accept
  chain truncated@4 handle 0
    rule 4294967296: @th,3,1 < 80 -> return
    rule 4294967297: @th,3,1 >= 80 -> return
    rule 4294967298: -> drop # transport header shorter than 4 bytes (the kernel's hotdrop)
  chain truncated@8 handle 0
    rule 4294967301: @th,7,1 < 80 -> return
    rule 4294967302: @th,7,1 >= 80 -> return
    rule 4294967303: -> drop # transport header shorter than 8 bytes (the kernel's hotdrop)
)");
}

TEST(IptLower, Ip6tablesGolden) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  std::string got = lowered(AF_INET6, "filter",
                            {ipt(I6, "-A INPUT -s 2001:db8::/32 ! -d ::1 -p tcp --dport 22 -j ACCEPT"),
                             ipt(I6, "-A INPUT -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT"),
                             ipt(I6, "-A INPUT -p all -j DROP"),
                             ipt(I6, "-A INPUT ! -p udp -m hl --hl-gt 5 -m length --length 30:60 -m dscp --dscp 10"),
                             ipt(I6, "-A INPUT -m iprange --dst-range 2001:db8::1-2001:db8::ff")});
  // ip6_tables' own walk (through AH): meta xt6 l4proto, @xt6th. Each -p entry is preceded by the
  // drop of a failed walk (its hotdrop) under the entry's address tests; -p all then tests
  // nothing more. --length 30:60 is payload_len 0..20; dscp 10 << 6 = 0280 in the
  // version/class/flow word.
  EXPECT_EQ(got, R"(table ip6 filter handle 0
  chain INPUT handle 0 hook input priority 0 type filter policy accept
    rule 4294967296: ip6 saddr & ffffffff000000000000000000000000 == 20010db8000000000000000000000000; ip6 daddr != 00000000000000000000000000000001; meta xt6 l4proto/2 == 0001 -> drop # -p: ip6_tables' header walk failed (the kernel's hotdrop)
    rule 4294967301: ip6 saddr & ffffffff000000000000000000000000 == 20010db8000000000000000000000000; ip6 daddr != 00000000000000000000000000000001; meta xt6 l4proto/2 == 0600 -> jump truncated@20
    rule 0: ip6 saddr & ffffffff000000000000000000000000 == 20010db8000000000000000000000000; ip6 daddr != 00000000000000000000000000000001; meta xt6 l4proto/2 == 0600; @xt6th,17,3 & 000000 == 000000; @xt6th,2,2 == 0016; counter -> accept
    rule 4294967302: meta xt6 l4proto/2 == 0001 -> drop # -p: ip6_tables' header walk failed (the kernel's hotdrop)
    rule 4294967307: meta xt6 l4proto/2 == 3a00 -> jump truncated@8
    rule 1: meta xt6 l4proto/2 == 3a00; @xt6th,5,3 & 000000 == 000000; @xt6th,0,2 in-range 8000-80ff; counter -> accept
    rule 4294967308: meta xt6 l4proto/2 == 0001 -> drop # -p: ip6_tables' header walk failed (the kernel's hotdrop)
    rule 2: counter -> drop
    rule 4294967309: meta xt6 l4proto/2 == 0001 -> drop # -p: ip6_tables' header walk failed (the kernel's hotdrop)
    rule 3: meta xt6 l4proto/2 != 1100; ip6 hoplimit > 05; ip6 length in-range 0000-0014; ip6 dscp & 0fc0 == 0280; counter -> continue
    rule 4: ip6 daddr in-range 20010db8000000000000000000000001-20010db80000000000000000000000ff; counter -> continue
    rule 5: counter -> accept
  chain FORWARD handle 0 hook forward priority 0 type filter policy accept
    rule 6: counter -> accept
  chain OUTPUT handle 0 hook output priority 0 type filter policy accept
    rule 7: counter -> accept
  chain truncated@8 handle 0
    rule 4294967303: @xt6th,7,1 < 80 -> return
    rule 4294967304: @xt6th,7,1 >= 80 -> return
    rule 4294967305: meta xt6 fragoff/2 != 0000 -> return
    rule 4294967306: -> drop # transport header shorter than 8 bytes (the kernel's hotdrop)
  chain truncated@20 handle 0
    rule 4294967297: @xt6th,19,1 < 80 -> return
    rule 4294967298: @xt6th,19,1 >= 80 -> return
    rule 4294967299: meta xt6 fragoff/2 != 0000 -> return
    rule 4294967300: -> drop # transport header shorter than 20 bytes (the kernel's hotdrop)
)");
}

TEST(IptLower, TablePrioritiesAndChainTypes) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  std::string nat = lowered(AF_INET, "nat", {ipt(I, "-t nat -A PREROUTING -p tcp -j ACCEPT")});
  EXPECT_EQ(nat, R"(table ip nat handle 0
  chain PREROUTING handle 0 hook prerouting priority -100 type nat policy accept
    rule 0: ip protocol == 06; counter -> accept
    rule 1: counter -> accept
  chain INPUT handle 0 hook input priority 100 type nat policy accept
    rule 2: counter -> accept
  chain OUTPUT handle 0 hook output priority -100 type nat policy accept
    rule 3: counter -> accept
  chain POSTROUTING handle 0 hook postrouting priority 100 type nat policy accept
    rule 4: counter -> accept
)");
  std::string mangle = lowered(AF_INET, "mangle", {ipt(I, "-t mangle -A PREROUTING -j ACCEPT")});
  EXPECT_NE(mangle.find("chain PREROUTING handle 0 hook prerouting priority -150 type filter"), std::string::npos) << mangle;
  EXPECT_NE(mangle.find("chain OUTPUT handle 0 hook output priority -150 type route"), std::string::npos) << mangle;
  for (auto [table, prio] : {std::pair{"raw", "-300"}, std::pair{"security", "50"}}) {
    std::string t = lowered(AF_INET6, table, {ipt(I6, (std::string("-t ") + table + " -A OUTPUT -j ACCEPT").c_str())});
    EXPECT_NE(t.find(std::string("hook output priority ") + prio + " type filter"), std::string::npos) << t;
  }
}

// Each refusal is EOPNOTSUPP and names the extension and the entry.
TEST(IptLower, RefusalsArePrecise) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  struct Case {
    int family;
    std::string table, command, expect;
  };
  const std::vector<Case> cases = {
      {AF_INET, "filter", ipt(I, "-A INPUT -p tcp -j REJECT --reject-with tcp-reset"),
       "REJECT: sends ICMP errors or TCP resets, which a BPF netfilter program cannot (entry 0, rule 0 of chain INPUT in ip filter)"},
      {AF_INET, "filter", ipt(I, "-A FORWARD -m mac --mac-source 02:00:00:00:00:01"),
       "mac --mac-source: a BPF netfilter program cannot read the link-layer header at the prerouting, input or forward hook (entry 1, rule 0 of chain FORWARD in ip filter)"},
      {AF_INET, "filter", ipt(I, "-A INPUT -m addrtype --dst-type LOCAL"), "match addrtype: address types need the kernel's routing tables"},
      {AF_INET, "filter", ipt(I, "-A INPUT -p tcp --tcp-option 2"), "tcp --tcp-option 2: TCP option matching is not supported yet"},
      {AF_INET, "filter", ipt(I, "-A INPUT -j NFQUEUE --queue-num 3"), "NFQUEUE: queues packets to userspace"},
      {AF_INET, "filter", ipt(I, "-A INPUT -j QUEUE"), "QUEUE: queues packets to userspace"},
      {AF_INET, "nat", ipt(I, "-t nat -A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.1"), "DNAT: address translation needs"},
      {AF_INET, "nat", ipt(I, "-t nat -A POSTROUTING -j MASQUERADE"), "MASQUERADE: address translation needs"},
      {AF_INET, "raw", ipt(I, "-t raw -A PREROUTING -j CT --notrack"), "CT: changes conntrack state"},
      {AF_INET, "filter", ipt(I, "-A INPUT -m conntrack --ctstate NEW --ctdir REPLY"), "--ctstate together with --ctstatus or --ctdir"},
      {AF_INET, "filter", ipt(I, "-A INPUT -m conntrack --ctproto tcp"), "conntrack: only --ctstate, --ctstatus and --ctdir"},
      {AF_INET, "filter", ipt(I, "-A INPUT -m conntrack --ctstate SNAT"), "NAT states are not supported"},
      {AF_INET, "filter", ipt(I, "-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name x"), "match hashlimit: per-flow rate limits"},
      {AF_INET6, "filter", ipt(I6, "-A INPUT -m frag --fragid 5"), "match frag: IPv6 extension header matching"},
      // An inverted -o reached from INPUT (iptables refuses it in INPUT itself, not in a user
      // chain): the kernel compares the missing device as "", which is always unequal.
      {AF_INET, "filter", ipt(I, "-N c && iptables-legacy -A c ! -o eth0 && iptables-legacy -A INPUT -j c"),
       "! -o: at a hook without that device the kernel compares an empty name (entry 5, rule 0 of chain c in ip filter)"},
  };
  for (const auto& c : cases) {
    auto t = lower_cmds(c.family, c.table, {c.command});
    ASSERT_FALSE(t) << c.command << " lowered:\n" << ir::to_string(*t);
    EXPECT_EQ(t.error().err, EOPNOTSUPP) << c.command << ": " << t.error().describe();
    EXPECT_NE(t.error().describe().find(c.expect), std::string::npos) << c.command << ": " << t.error().describe();
  }
}

// Offsets of the entries of an IPv4 blob.
std::vector<uint32_t> entry_offsets(const std::vector<uint8_t>& blob) {
  std::vector<uint32_t> out;
  for (uint32_t off = 0; off < blob.size();) {
    out.push_back(off);
    ipt_entry e;
    std::memcpy(&e, blob.data() + off, sizeof(e));
    off += e.next_offset;
  }
  return out;
}
void set_verdict(std::vector<uint8_t>& blob, uint32_t entry_off, int32_t v) {
  ipt_entry e;
  std::memcpy(&e, blob.data() + entry_off, sizeof(e));
  std::memcpy(blob.data() + entry_off + e.target_offset + sizeof(xt_entry_target), &v, sizeof(v));
}

// Shapes the kernel runs but libiptc never writes, made by patching a captured blob: a jump into
// the middle of a chain, a jump to an ERROR entry, a chain falling into an ERROR entry; and a
// RETURN at the top of a hook chain (iptables writes that one).
TEST(IptLower, WalkEdgeCasesFromPatchedBlobs) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  // Entries: 0 INPUT -j a, 1 INPUT policy, 2 FORWARD policy, 3 OUTPUT policy, 4 ERROR "a",
  // 5 a -p tcp ACCEPT, 6 a -p udp DROP, 7 a RETURN, 8 ERROR (end).
  auto k = capture(CaptureRequest{.family = AF_INET, .table = "filter",
                                  .commands = {ipt(I, "-N a"), ipt(I, "-A a -p tcp -j ACCEPT"), ipt(I, "-A a -p udp -j DROP"),
                                               ipt(I, "-A INPUT -j a")}});
  ASSERT_TRUE(k) << k.error().describe();
  const auto off = entry_offsets(k->entries);
  ASSERT_EQ(off.size(), 9u);
  auto lower_patched = [&](auto patch) {
    testing::KernelTable t = *k;
    patch(t.entries);
    auto r = lower_ipt_table(t.blob());
    if (!r) return "lower: " + r.error().describe();
    if (auto v = ir::validate(*r); !v) return "validate: " + v.error().describe();
    return ir::to_string(*r);
  };
  // Jump to entry 6: chain "a" is split, its first part falls through (goto) into "a@6".
  EXPECT_EQ(lower_patched([&](auto& b) { set_verdict(b, off[0], static_cast<int32_t>(off[6])); }),
            R"(table ip filter handle 0
  chain INPUT handle 0 hook input priority 0 type filter policy accept
    rule 0: counter -> jump a@6
    rule 1: counter -> accept
  chain FORWARD handle 0 hook forward priority 0 type filter policy accept
    rule 2: counter -> accept
  chain OUTPUT handle 0 hook output priority 0 type filter policy accept
    rule 3: counter -> accept
  chain a handle 0
    rule 5: ip protocol == 06; counter -> accept
    rule 4294967296: -> goto a@6
  chain a@6 handle 0
    rule 6: ip protocol == 11; counter -> drop
    rule 7: counter -> return
)");
  // Jump to the ERROR entry heading "a": the ERROR target drops.
  std::string to_error = lower_patched([&](auto& b) { set_verdict(b, off[0], static_cast<int32_t>(off[4])); });
  EXPECT_NE(to_error.find("rule 0: counter -> drop"), std::string::npos) << to_error;
  // "a" ends in a conditional entry: it falls into the final ERROR entry, which drops.
  std::string fall = lower_patched([&](auto& b) {
    ipt_entry e;
    std::memcpy(&e, b.data() + off[7], sizeof(e));
    e.ip.proto = 17;
    std::memcpy(b.data() + off[7], &e, sizeof(e));
  });
  EXPECT_NE(fall.find("    rule 7: ip protocol == 11; counter -> return\n    rule 4294967296: -> drop # falls into an ERROR entry\n"),
            std::string::npos) << fall;
  // A jump to a hook chain's entry point has no IR form (jump targets are regular chains).
  std::string into_hook = lower_patched([&](auto& b) { set_verdict(b, off[5], static_cast<int32_t>(off[2])); });
  EXPECT_NE(into_hook.find("a jump into the hook chain FORWARD"), std::string::npos) << into_hook;

  // RETURN at the top of INPUT continues at the underflow entry, which counts and drops.
  std::string ret = lowered(AF_INET, "filter", {ipt(I, "-P INPUT DROP"), ipt(I, "-A INPUT -p tcp -j RETURN")});
  EXPECT_NE(ret.find("  chain INPUT handle 0 hook input priority 0 type filter policy drop\n    rule 4294967296: -> jump INPUT@body\n"
                     "    rule 1: counter -> drop\n"), std::string::npos) << ret;
  EXPECT_NE(ret.find("  chain INPUT@body handle 0\n    rule 0: ip protocol == 06; counter -> return\n"), std::string::npos) << ret;
  // A user chain may already be called that ('@' is allowed): the made-up name moves aside.
  std::string clash = lowered(AF_INET, "filter", {ipt(I, "-N INPUT@body"), ipt(I, "-A INPUT -j RETURN"), ipt(I, "-A INPUT -j INPUT@body")});
  EXPECT_NE(clash.find("rule 4294967296: -> jump INPUT@body#2\n"), std::string::npos) << clash;
  EXPECT_NE(clash.find("  chain INPUT@body#2 handle 0\n    rule 0: counter -> return\n    rule 1: counter -> jump INPUT@body\n"),
            std::string::npos) << clash;
}

// The lowering reads blobs the sockopt server has validated, but must not read out of bounds or
// crash on any other: 3 000 seeded corruptions (1-4 bytes) of a real table with many extensions,
// each lowered; an accepted one must print. Meaningful under -DNFBPF_SANITIZE=ON.
TEST(IptLower, CorruptedBlobsNeverCrash) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  auto k = capture(CaptureRequest{
      .family = AF_INET, .table = "filter",
      .commands = {ipt(I, "-N a"), ipt(I, "-A INPUT -s 10.0.0.0/8 -i eth+ -p tcp --dport 80:90 --tcp-flags SYN SYN -j a"),
                   ipt(I, "-A INPUT -p udp -m multiport --ports 1,2:5 -m comment --comment c"),
                   ipt(I, "-A a -m conntrack --ctstate NEW -m mark --mark 1/3 -m limit --limit 5/s -j LOG"),
                   ipt(I, "-N b"), ipt(I, "-A a -p icmp --icmp-type 8 -m iprange --src-range 1.1.1.1-1.1.1.9 -g b"), ipt(I, "-A b -j RETURN"),
                   ipt(I, "-A OUTPUT -j a")}});
  ASSERT_TRUE(k) << k.error().describe();
  ASSERT_TRUE(lower_ipt_table(k->blob()));
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  auto next = [&] { return seed = seed * 6364136223846793005ull + 1442695040888963407ull, static_cast<uint32_t>(seed >> 33); };
  size_t accepted = 0, refused = 0;
  for (int round = 0; round < 3000; ++round) {
    testing::KernelTable t = *k;
    const int n = 1 + static_cast<int>(next() % 4);
    for (int j = 0; j < n; ++j) t.entries[next() % t.entries.size()] = static_cast<uint8_t>(next());
    auto r = lower_ipt_table(t.blob());
    if (r) {
      ++accepted;
      EXPECT_FALSE(ir::to_string(*r).empty());
    } else {
      ++refused;
      EXPECT_TRUE(r.error().err == EINVAL || r.error().err == EOPNOTSUPP) << r.error().describe();
    }
  }
  EXPECT_GT(accepted, 0u);
  EXPECT_GT(refused, 0u);
}

}  // namespace
}  // namespace nfbpf::translate::ipt
