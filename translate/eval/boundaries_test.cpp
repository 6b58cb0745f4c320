// The probes' expectations come from the evaluator; these tests check, by hand, that the probes
// sit where they should (the packet really carries value+1, ...) and that the expectations at
// the well-understood boundaries are the ones nft gives.
#include "translate/eval/boundaries.h"

#include <gtest/gtest.h>

#include <map>

#include "translate/ir/build.h"

namespace nfbpf::eval {
namespace {

using ir::KnownField;
namespace b = ir::build;

ir::Table table(ir::Family f, std::vector<ir::Set> sets = {}) { return ir::Table{.family = f, .name = "t", .sets = std::move(sets)}; }

std::map<std::string, const Probe*> by_what(const std::vector<Probe>& ps) {
  std::map<std::string, const Probe*> m;
  for (const auto& p : ps) m[p.what] = &p;
  return m;
}

// Expectation of the probe named `what`; fails the test when it does not exist.
bool expect_of(const std::map<std::string, const Probe*>& m, const std::string& what) {
  auto it = m.find(what);
  if (it == m.end()) {
    ADD_FAILURE() << "no probe '" << what << "'";
    return false;
  }
  return it->second->expect_match;
}

uint16_t dport_of(const Probe& p) {
  // Bare IPv4 without options: the TCP header is at 20, dport at 22.
  return static_cast<uint16_t>(p.frame[22] << 8 | p.frame[23]);
}

TEST(Boundaries, EqOnTransportPort) {
  auto t = table(ir::Family::kInet);
  auto ps = match_probes(t, b::eq(KnownField::kTcpDport, b::be16(22)));
  ASSERT_TRUE(ps) << ps.error().describe();
  auto m = by_what(*ps);
  EXPECT_TRUE(expect_of(m, "tcp dport: value"));
  EXPECT_EQ(dport_of(*m["tcp dport: value"]), 22);
  EXPECT_FALSE(expect_of(m, "tcp dport: value+1"));
  EXPECT_EQ(dport_of(*m["tcp dport: value+1"]), 23);
  EXPECT_FALSE(expect_of(m, "tcp dport: value-1"));
  EXPECT_EQ(dport_of(*m["tcp dport: value-1"]), 21);
  for (int bit = 0; bit < 16; ++bit) EXPECT_FALSE(expect_of(m, "tcp dport: value bit " + std::to_string(bit) + " flipped")) << bit;
  EXPECT_EQ(dport_of(*m["tcp dport: value bit 15 flipped"]), 23);
  EXPECT_EQ(dport_of(*m["tcp dport: value bit 0 flipped"]), 0x8016);
  EXPECT_TRUE(expect_of(m, "tcp dport: satisfying value on ipv6"));
  EXPECT_FALSE(expect_of(m, "tcp dport: satisfying value, cut 1 byte short of the field"));
  EXPECT_TRUE(expect_of(m, "tcp dport: satisfying value, cut right after the field"));
  // tcp dport is an aligned 2-byte load: nft's payload fast path reads it even in a non-first
  // fragment (kernel-verified), so the probe (which carries the bytes) matches.
  EXPECT_TRUE(expect_of(m, "tcp dport: satisfying value in a non-first fragment"));
  EXPECT_TRUE(expect_of(m, "tcp dport: satisfying value behind a hop-by-hop header"));
  // Every probe is a TCP packet at an inet input hook; the cut one is 23 bytes long.
  EXPECT_EQ(m["tcp dport: satisfying value, cut 1 byte short of the field"]->frame.size(), 23u);
  EXPECT_EQ(m["tcp dport: satisfying value on ipv6"]->ctx.family, ir::Family::kIp6);
  EXPECT_EQ(m["tcp dport: value"]->ctx.family, ir::Family::kIp);
  EXPECT_EQ(m["tcp dport: value"]->frame[9], 6);
}

TEST(Boundaries, IpOnlyTableHasNoIpv6Variants) {
  auto ps = match_probes(table(ir::Family::kIp), b::eq(KnownField::kTcpDport, b::be16(22)));
  ASSERT_TRUE(ps);
  for (const auto& p : *ps) EXPECT_EQ(p.ctx.family, ir::Family::kIp) << p.describe();
}

TEST(Boundaries, PrefixCoversOnlyItsBits) {
  auto ps = match_probes(table(ir::Family::kIp), b::prefix(KnownField::kIp4Saddr, *b::ip4("10.0.0.0"), 8));
  ASSERT_TRUE(ps);
  auto m = by_what(*ps);
  EXPECT_TRUE(expect_of(m, "ip saddr: value"));
  for (int bit = 0; bit < 8; ++bit) EXPECT_FALSE(expect_of(m, "ip saddr: value bit " + std::to_string(bit) + " flipped"));
  EXPECT_EQ(m.count("ip saddr: value bit 8 flipped"), 0u);  // not covered: not a boundary
  EXPECT_TRUE(expect_of(m, "ip saddr: value, uncovered bit 8 flipped"));
  EXPECT_TRUE(expect_of(m, "ip saddr: value, uncovered bit 31 flipped"));
  const Probe* p = m["ip saddr: value, uncovered bit 31 flipped"];
  EXPECT_EQ(p->frame[12], 10);
  EXPECT_EQ(p->frame[15], 1);
}

TEST(Boundaries, FlagCombinations) {
  auto ps = match_probes(table(ir::Family::kIp),
                         b::masked(KnownField::kTcpFlags, {0x12}, ir::Op::kEq, {0x02}));  // syn without ack
  ASSERT_TRUE(ps);
  auto m = by_what(*ps);
  // Subsets of mask bits (ack=0x10 is bit 0 of the subset index, syn=0x02 bit 1, from the top).
  EXPECT_FALSE(expect_of(m, "tcp flags: mask bits 0x0"));
  EXPECT_FALSE(expect_of(m, "tcp flags: mask bits 0x1"));  // ack
  EXPECT_TRUE(expect_of(m, "tcp flags: mask bits 0x2"));   // syn
  EXPECT_FALSE(expect_of(m, "tcp flags: mask bits 0x3"));  // syn|ack
  EXPECT_EQ(m["tcp flags: mask bits 0x3"]->frame[33], 0x12);
}

TEST(Boundaries, RangeEnds) {
  auto ps = match_probes(table(ir::Family::kIp), b::range(KnownField::kTcpDport, b::be16(1000), b::be16(2000)));
  ASSERT_TRUE(ps);
  auto m = by_what(*ps);
  EXPECT_FALSE(expect_of(m, "tcp dport: low-1"));
  EXPECT_TRUE(expect_of(m, "tcp dport: low"));
  EXPECT_TRUE(expect_of(m, "tcp dport: low+1"));
  EXPECT_TRUE(expect_of(m, "tcp dport: high-1"));
  EXPECT_TRUE(expect_of(m, "tcp dport: high"));
  EXPECT_FALSE(expect_of(m, "tcp dport: high+1"));
  EXPECT_FALSE(expect_of(m, "tcp dport: all-zeros"));
  EXPECT_FALSE(expect_of(m, "tcp dport: all-ones"));
  EXPECT_EQ(dport_of(*m["tcp dport: high+1"]), 2001);
}

TEST(Boundaries, HostOrderNeighboursAreNumeric) {
  // meta mark < 0x100: value-1 = 0xff (numeric, host order) matches; value does not.
  auto ps = match_probes(table(ir::Family::kIp), b::cmp(KnownField::kMetaMark, ir::Op::kLt, b::host32(0x100)));
  ASSERT_TRUE(ps);
  auto m = by_what(*ps);
  EXPECT_TRUE(expect_of(m, "meta mark: value-1"));
  EXPECT_EQ(m["meta mark: value-1"]->ctx.mark, 0xffu);
  EXPECT_FALSE(expect_of(m, "meta mark: value"));
  EXPECT_FALSE(expect_of(m, "meta mark: value+1"));
  EXPECT_TRUE(expect_of(m, "meta mark: all-zeros"));
}

TEST(Boundaries, IntervalSetElements) {
  ir::Set s{.name = "ports", .flags = ir::kSetInterval, .key_parts = {2}, .key_len = 2,
            .elements = {{.key = b::be16(100), .key_end = b::be16(199)}, {.key = b::be16(443)}}};
  auto t = table(ir::Family::kIp, {s});
  auto ps = match_probes(t, b::in_set({ir::known_field(KnownField::kTcpDport)}, "ports"));
  ASSERT_TRUE(ps);
  auto m = by_what(*ps);
  EXPECT_FALSE(expect_of(m, "tcp dport: element 0 start-1"));
  EXPECT_TRUE(expect_of(m, "tcp dport: element 0 start"));
  EXPECT_TRUE(expect_of(m, "tcp dport: element 0 end"));
  EXPECT_FALSE(expect_of(m, "tcp dport: element 0 end+1"));
  EXPECT_EQ(dport_of(*m["tcp dport: element 0 end+1"]), 200);
  EXPECT_FALSE(expect_of(m, "tcp dport: element 1-1"));
  EXPECT_TRUE(expect_of(m, "tcp dport: element 1"));
  EXPECT_FALSE(expect_of(m, "tcp dport: element 1+1"));
}

TEST(Boundaries, RuleHoldsTheOtherMatches) {
  // meta l4proto udp; udp dport 53: probes of the dport keep l4proto = udp (so value matches),
  // probes of l4proto keep dport 53 (so l4proto+1 misses only because of l4proto).
  ir::Rule r{.handle = 7, .steps = {b::eq(KnownField::kMetaL4Proto, b::u8(17)), b::eq(KnownField::kUdpDport, b::be16(53))}};
  auto ps = rule_probes(table(ir::Family::kIp), r);
  ASSERT_TRUE(ps);
  auto m = by_what(*ps);
  EXPECT_TRUE(expect_of(m, "udp dport: value"));
  EXPECT_EQ(m["udp dport: value"]->frame[9], 17);
  EXPECT_FALSE(expect_of(m, "udp dport: value+1"));
  EXPECT_TRUE(expect_of(m, "meta l4proto: value"));
  EXPECT_FALSE(expect_of(m, "meta l4proto: value+1"));
  EXPECT_EQ(m["meta l4proto: value+1"]->frame[9], 18);
}

TEST(Boundaries, InterfaceNamesStayValid) {
  auto ps = match_probes(table(ir::Family::kIp), b::eq(KnownField::kMetaIifName, b::ifname("eth0")));
  ASSERT_TRUE(ps);
  auto m = by_what(*ps);
  EXPECT_TRUE(expect_of(m, "meta iifname: value"));
  EXPECT_EQ(m["meta iifname: value"]->ctx.in->name, "eth0");
  EXPECT_FALSE(expect_of(m, "meta iifname: value bit 31 flipped"));  // "eth1"
  EXPECT_EQ(m["meta iifname: value bit 31 flipped"]->ctx.in->name, "eth1");
  // A bit in the padding would make a name with bytes after its NUL: no such device, no probe.
  EXPECT_EQ(m.count("meta iifname: value bit 100 flipped"), 0u);
}

TEST(Boundaries, DescribeNamesTheProbeThePacketAndTheExpectation) {
  auto ps = match_probes(table(ir::Family::kIp), b::eq(KnownField::kTcpDport, b::be16(22)));
  ASSERT_TRUE(ps);
  auto m = by_what(*ps);
  EXPECT_EQ(m["tcp dport: value+1"]->describe(),
            "tcp dport: value+1: ipv4 192.0.2.1>198.51.100.2 tcp 40000>23 A len 40 -> miss");
}

}  // namespace
}  // namespace nfbpf::eval
