// Hand-written expectations for the core cases (the table-driven tests compare with the
// evaluator; these pin down what the answer must be): a packet that matches, the packets just
// beside it, IPv4 and IPv6, fragments, truncated headers, on every flavor.
#include <gtest/gtest.h>

#include "codegen/emit/disasm.h"
#include "codegen/prologue/prologue.h"
#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"
#include "translate/ir/build.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using ir::KnownField;
using ir::VerdictKind;
using packet::Packet;
namespace b = ir::build;

constexpr VerdictKind kA = VerdictKind::kAccept, kD = VerdictKind::kDrop;

ir::Table one_rule(ir::Family fam, ir::Hook hook, std::vector<ir::Step> steps, ir::Verdict v = b::drop(),
                   VerdictKind policy = kA) {
  ir::Table t{.family = fam, .name = "t"};
  ir::Chain c{.name = "c", .handle = 1, .base = ir::BaseHook{.hook = hook}, .policy = policy};
  c.rules.push_back(ir::Rule{.handle = 2, .steps = std::move(steps), .verdict = std::move(v)});
  t.chains.push_back(std::move(c));
  return t;
}

TestPacket v4(Packet p) { return TestPacket{p.bytes(), static_cast<uint32_t>(p.l2_len()), false}; }
TestPacket v6(Packet p) { return TestPacket{p.bytes(), static_cast<uint32_t>(p.l2_len()), true}; }

struct CoreTest : ::testing::Test {
  kernel::LinuxKernel k;
  std::optional<chain::RuntimeTables> rt;
  void SetUp() override {
    auto r = chain::RuntimeTables::create(k);
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    rt.emplace(std::move(*r));
  }
  // Runs every (packet, expected) on every flavor, checking the evaluator agrees with the
  // expectation too.
  struct Case {
    TestPacket pkt;
    VerdictKind expect;
    std::optional<VerdictKind> at_l2 = {};  // when netdev validation (xdp/tcx) answers otherwise
  };
  void expect_all(const std::vector<ir::Step>& steps, ir::Family fam, const std::vector<Case>& cases) {
    for (Flavor f : kAllFlavors) {
      ir::Table t = one_rule(family_for(f, fam), hook_for(f), steps);
      auto run = ChainRun::create(k, *rt, t, "c", f);
      ASSERT_TRUE(run.has_value()) << flavor::flavor_name(f) << ": " << run.error().describe();
      for (size_t i = 0; i < cases.size(); ++i) {
        auto got = run->run_both(cases[i].pkt);
        ASSERT_TRUE(got.has_value()) << got.error().describe();
        VerdictKind want = l2_flavor(f) && cases[i].at_l2 ? *cases[i].at_l2 : cases[i].expect;
        EXPECT_EQ(verdict_name(got->first), verdict_name(want))
            << flavor::flavor_name(f) << " case " << i << " (bpf)\n" << emit::disassemble(run->compiled().program);
        EXPECT_EQ(verdict_name(got->second), verdict_name(want)) << flavor::flavor_name(f) << " case " << i << " (eval)";
      }
    }
  }
};

TEST_F(CoreTest, Ipv4SourceAddress) {
  expect_all({b::eq(KnownField::kIp4Saddr, *b::ip4("10.0.0.1"))}, ir::Family::kIp,
             {{v4(Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1, 2)), kD},
              {v4(Packet::ipv4("10.0.0.2", "10.0.0.2").udp(1, 2)), kA},
              {v4(Packet::ipv4("10.0.0.0", "10.0.0.2").udp(1, 2)), kA},
              {v4(Packet::ipv4("138.0.0.1", "10.0.0.2").udp(1, 2)), kA}});
}

TEST_F(CoreTest, TcpDestinationPortWithProtocol) {
  std::vector<ir::Step> steps{b::eq(KnownField::kMetaL4Proto, b::u8(6)), b::eq(KnownField::kTcpDport, b::be16(22))};
  expect_all(steps, ir::Family::kInet,
             {{v4(Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 22)), kD},
              {v4(Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 23)), kA},
              {v4(Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 21)), kA},
              {v4(Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1000, 22)), kA},
              {v4(Packet::ipv4("10.0.0.1", "10.0.0.2").ip_options({1, 1, 1, 1, 1, 1, 1, 1}).tcp(1000, 22)), kD},
              {v6(Packet::ipv6("2001:db8::1", "2001:db8::2").tcp(1000, 22)), kD},
              {v6(Packet::ipv6("2001:db8::1", "2001:db8::2").hop_by_hop().dest_opts().tcp(1000, 22)), kD},
              {v6(Packet::ipv6("2001:db8::1", "2001:db8::2").routing(0, 0).tcp(1000, 23)), kA},
              // truncated inside the port: no match; right after it: match, except where the
              // IPv4 header is validated (netdev hooks: total length beyond the packet)
              {v4(Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 22).truncate(20 + 3)), kA},
              {v4(Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 22).truncate(20 + 4)), kD, kA},
              // IHL below 5: no transport header anywhere
              {v4(Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1000, 22).ihl(4)), kA}});
}

TEST_F(CoreTest, FragmentsAndTransportReads) {
  // tcp flags (offset 13, 1 byte: nft's fast path) and a 2-byte read at the odd offset 13 (slow path).
  ir::Field odd{.base = ir::Base::kTransport, .offset = 13, .len = 2};
  std::vector<ir::Step> steps{ir::Match{.key = {odd}, .op = ir::Op::kNe, .value = b::be16(0xffff)}};
  auto frag = Packet::ipv4("10.0.0.1", "10.0.0.2").fragment(8, false).tcp(1, 2);
  auto whole = Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2);
  expect_all(steps, ir::Family::kIp, {{v4(whole), kD}, {v4(frag), kA}});
  // The fast path reads even a non-first fragment, as the kernel does.
  std::vector<ir::Step> fast{ir::Match{.key = {ir::Field{.base = ir::Base::kTransport, .offset = 2, .len = 2}},
                                       .op = ir::Op::kEq, .value = b::be16(2)}};
  expect_all(fast, ir::Family::kIp, {{v4(whole), kD}, {v4(frag), kD}});
}

// The extension-header walk goes as far as prologue::kMaxIpv6ExtHeaders (16) headers, like the
// kernel's ipv6_find_hdr (which has no limit): 5, 8 and 16 headers (hop-by-hop, destination
// options, routing, a first fragment, large option blocks) still find the TCP header; 17 do not
// (no transport header: the rule cannot match). Every flavor, checked against the evaluator for
// the walkable counts.
TEST_F(CoreTest, Ipv6ManyExtensionHeaders) {
  ASSERT_EQ(prologue::kMaxIpv6ExtHeaders, 16);
  auto chain = [](int n, uint16_t dport) {
    auto p = Packet::ipv6("2001:db8::1", "2001:db8::2").hop_by_hop();
    for (int i = 1; i < n; ++i) {
      switch (i % 4) {
        case 0: p.dest_opts(); break;
        case 1: p.dest_opts(std::vector<uint8_t>(60, 0x00)); break;  // a 64-byte option block
        case 2: p.routing(0, 0); break;
        default: p.fragment(0, i + 1 < n); break;                    // first fragment: walk on
      }
    }
    return v6(p.tcp(1000, dport));
  };
  std::vector<ir::Step> steps{b::eq(KnownField::kMetaL4Proto, b::u8(6)), b::eq(KnownField::kTcpDport, b::be16(22))};
  expect_all(steps, ir::Family::kIp6,
             {{chain(5, 22), kD}, {chain(5, 23), kA}, {chain(8, 22), kD}, {chain(8, 21), kA},
              {chain(16, 22), kD}, {chain(16, 23), kA}});
}

// More headers than the walk: no transport header, so l4proto/dport rules do not match (the
// kernel would find it; the evaluator follows the kernel, so no comparison here).
TEST_F(CoreTest, Ipv6MoreExtensionHeadersThanTheWalkHaveNoTransport) {
  auto p = Packet::ipv6("2001:db8::1", "2001:db8::2");
  for (int i = 0; i <= prologue::kMaxIpv6ExtHeaders; ++i) p.dest_opts();
  TestPacket pkt = v6(p.tcp(1000, 22));
  for (Flavor f : kAllFlavors) {
    ir::Table t = one_rule(family_for(f, ir::Family::kIp6), hook_for(f), {b::eq(KnownField::kTcpDport, b::be16(22))});
    auto run = ChainRun::create(k, *rt, t, "c", f);
    ASSERT_TRUE(run.has_value()) << run.error().describe();
    auto got = run->run_bpf(pkt);
    ASSERT_TRUE(got.has_value()) << got.error().describe();
    EXPECT_EQ(verdict_name(*got), verdict_name(kA)) << flavor::flavor_name(f);
    // One header fewer: found.
    auto q = Packet::ipv6("2001:db8::1", "2001:db8::2");
    for (int i = 0; i < prologue::kMaxIpv6ExtHeaders; ++i) q.dest_opts();
    auto hit = run->run_bpf(v6(q.tcp(1000, 22)));
    ASSERT_TRUE(hit.has_value());
    EXPECT_EQ(verdict_name(*hit), verdict_name(kD)) << flavor::flavor_name(f);
  }
}

TEST_F(CoreTest, Ipv6AddressesAndNonFirstFragment) {
  std::vector<ir::Step> steps{b::eq(KnownField::kIp6Daddr, *b::ip6("2001:db8::2")),
                              b::eq(KnownField::kMetaL4Proto, b::u8(17))};
  expect_all(steps, ir::Family::kIp6,
             {{v6(Packet::ipv6("2001:db8::1", "2001:db8::2").udp(1, 2)), kD},
              {v6(Packet::ipv6("2001:db8::1", "2001:db8::3").udp(1, 2)), kA},
              {v6(Packet::ipv6("2001:db8::1", "2001:db9::2").udp(1, 2)), kA},
              {v6(Packet::ipv6("2001:db8::1", "2001:db8::2").fragment(16, true).udp(1, 2)), kD},
              {v6(Packet::ipv6("2001:db8::1", "2001:db8::2").hop_by_hop().fragment(0, true).udp(1, 2)), kD},
              {v6(Packet::ipv6("2001:db8::1", "2001:db8::2").tcp(1, 2)), kA}});
}

// ipv6_find_hdr with IP6_FH_F_AUTH stops at AH: meta l4proto reads 51 and transport reads start
// at the AH header.
TEST_F(CoreTest, Ipv6AuthenticationHeaderIsTheTransport) {
  auto ah = [](uint16_t dport) {
    return v6(Packet::ipv6("2001:db8::1", "2001:db8::2").hop_by_hop().ext_header(51, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).udp(1, dport));
  };
  expect_all({b::eq(KnownField::kMetaL4Proto, b::u8(51))}, ir::Family::kIp6,
             {{ah(53), kD}, {v6(Packet::ipv6("2001:db8::1", "2001:db8::2").udp(1, 53)), kA}});
  // The AH header's first byte (its next header, 17) as a transport read.
  ir::Field th0{.base = ir::Base::kTransport, .offset = 0, .len = 1};
  expect_all({ir::Match{.key = {th0}, .op = ir::Op::kEq, .value = {17}}}, ir::Family::kIp6, {{ah(53), kD}});
}

// inet tables at device hooks are nft's inet ingress: non-IP frames pass without running the
// chain, invalid IP headers are dropped (policy accept here, so a drop is the hook's).
TEST_F(CoreTest, InetAtIngressSkipsNonIpAndDropsInvalidIp) {
  for (Flavor f : {Flavor::kXdp, Flavor::kTcxIngress}) {
    ir::Table t = one_rule(ir::Family::kInet, ir::Hook::kIngress, {b::eq(KnownField::kIp4Saddr, *b::ip4("10.0.0.1"))});
    auto run = ChainRun::create(k, *rt, t, "c", f);
    ASSERT_TRUE(run.has_value()) << run.error().describe();
    auto arp = Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).ethertype(0x0806);
    auto bad = Packet::ipv4("10.0.0.9", "10.0.0.2").udp(1, 2).ihl(4).ether();
    auto hit = Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).ether();
    auto miss = Packet::ipv4("10.0.0.2", "10.0.0.2").udp(1, 2).ether();
    for (auto [pk, want] : {std::pair{arp, kA}, std::pair{bad, kD}, std::pair{hit, kD}, std::pair{miss, kA}}) {
      auto got = run->run_both(TestPacket{pk.bytes(), 14, false});
      ASSERT_TRUE(got.has_value()) << got.error().describe();
      EXPECT_EQ(verdict_name(got->first), verdict_name(want)) << flavor::flavor_name(f) << " " << packet::describe(pk);
      EXPECT_EQ(verdict_name(got->second), verdict_name(want)) << "eval " << packet::describe(pk);
    }
  }
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
