// Expectations here are written by hand from nf_tables semantics, never taken from the evaluator.
#include "translate/eval/eval.h"
#include "translate/eval/sets.h"

#include <gtest/gtest.h>

#include "common/packet/packet.h"
#include "translate/ir/build.h"

namespace nfbpf::eval {
namespace {

using ir::KnownField;
using packet::Packet;
namespace b = ir::build;
namespace tcpf = packet::tcp;

ir::Bytes ip4(std::string_view s) { return *b::ip4(s); }

ir::Rule rule(uint64_t handle, std::vector<ir::Step> steps, ir::Verdict v = b::accept()) {
  return ir::Rule{.handle = handle, .steps = std::move(steps), .verdict = std::move(v)};
}

ir::Chain base_chain(std::string name, std::vector<ir::Rule> rules, ir::VerdictKind policy = ir::VerdictKind::kAccept,
                     ir::Hook hook = ir::Hook::kInput, int32_t prio = 0) {
  return ir::Chain{.name = std::move(name), .base = ir::BaseHook{.hook = hook, .priority = prio}, .policy = policy,
                   .rules = std::move(rules)};
}

ir::Chain chain(std::string name, std::vector<ir::Rule> rules) {
  return ir::Chain{.name = std::move(name), .rules = std::move(rules)};
}

ir::Table table(ir::Family f, std::vector<ir::Chain> chains, std::vector<ir::Set> sets = {}) {
  return ir::Table{.family = f, .name = "t", .chains = std::move(chains), .sets = std::move(sets)};
}

ir::Match l4(uint8_t proto) { return b::eq(KnownField::kMetaL4Proto, b::u8(proto)); }
ir::Match dport(uint16_t p) { return b::eq(KnownField::kTcpDport, b::be16(p)); }

PacketContext input4() { return PacketContext{.family = ir::Family::kIp, .hook = ir::Hook::kInput, .in = Device{.name = "eth0", .ifindex = 2}}; }
PacketContext input6() { return PacketContext{.family = ir::Family::kIp6, .hook = ir::Hook::kInput, .in = Device{.name = "eth0", .ifindex = 2}}; }

struct Outcome {
  ir::VerdictKind verdict;
  std::string chain;
  std::optional<uint64_t> rule;
};

Outcome run(const ir::Table& t, const PacketContext& ctx, const ir::Bytes& pkt, EvalState& st) {
  auto r = evaluate(t, ctx, pkt, st);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().describe());
  if (!r) return {ir::VerdictKind::kCount, "", std::nullopt};
  return {r->verdict, r->chain, r->rule};
}
Outcome run(const ir::Table& t, const PacketContext& ctx, const ir::Bytes& pkt) {
  EvalState st;
  return run(t, ctx, pkt, st);
}

constexpr auto kAccept = ir::VerdictKind::kAccept;
constexpr auto kDrop = ir::VerdictKind::kDrop;

// ---- basics -------------------------------------------------------------------------------

TEST(Eval, TcpDportDropAndPolicy) {
  auto t = table(ir::Family::kIp, {base_chain("input", {rule(5, {l4(6), dport(22)}, b::drop())})});
  auto hit = run(t, input4(), Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 22).flags(tcpf::kSyn).l3());
  EXPECT_EQ(hit.verdict, kDrop);
  EXPECT_EQ(hit.chain, "input");
  EXPECT_EQ(hit.rule, 5u);
  auto miss = run(t, input4(), Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 23).l3());
  EXPECT_EQ(miss.verdict, kAccept);
  EXPECT_EQ(miss.rule, std::nullopt);  // the policy decided
  // UDP to port 22: the l4proto guard fails first.
  EXPECT_EQ(run(t, input4(), Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1234, 22).l3()).verdict, kAccept);
}

TEST(Eval, NoBaseChainAtThisHookAccepts) {
  auto t = table(ir::Family::kIp, {base_chain("out", {rule(1, {}, b::drop())}, kAccept, ir::Hook::kOutput)});
  EvalState st;
  auto r = evaluate(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).l3(), st);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, kAccept);
  EXPECT_TRUE(r->chain.empty());
  // ip6 table chains do not see IPv4 packets; inet ones do.
  auto t6 = table(ir::Family::kIp6, {base_chain("in", {rule(1, {}, b::drop())})});
  EXPECT_EQ(run(t6, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).l3()).verdict, kAccept);
  auto ti = table(ir::Family::kInet, {base_chain("in", {rule(1, {}, b::drop())})});
  EXPECT_EQ(run(ti, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).l3()).verdict, kDrop);
  EXPECT_EQ(run(ti, input6(), Packet::ipv6("::1", "::2").udp(1, 2).l3()).verdict, kDrop);
}

TEST(Eval, PrefixMatch) {
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {b::prefix(KnownField::kIp4Saddr, ip4("10.0.0.0"), 8)}, b::drop())})});
  EXPECT_EQ(run(t, input4(), Packet::ipv4("10.255.1.2", "1.1.1.1").udp(1, 2).l3()).verdict, kDrop);
  EXPECT_EQ(run(t, input4(), Packet::ipv4("10.0.0.0", "1.1.1.1").udp(1, 2).l3()).verdict, kDrop);
  EXPECT_EQ(run(t, input4(), Packet::ipv4("11.0.0.0", "1.1.1.1").udp(1, 2).l3()).verdict, kAccept);
  EXPECT_EQ(run(t, input4(), Packet::ipv4("9.255.255.255", "1.1.1.1").udp(1, 2).l3()).verdict, kAccept);
}

TEST(Eval, RangeOnNetworkOrderPort) {
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {l4(6), b::range(KnownField::kTcpDport, b::be16(1000), b::be16(2000))}, b::drop())})});
  auto v = [&](uint16_t p) { return run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, p).l3()).verdict; };
  EXPECT_EQ(v(999), kAccept);
  EXPECT_EQ(v(1000), kDrop);
  EXPECT_EQ(v(1500), kDrop);
  EXPECT_EQ(v(2000), kDrop);
  EXPECT_EQ(v(2001), kAccept);
  EXPECT_EQ(v(256 * 8), kAccept);  // 0x0800: high byte 8 > 7, low byte 0: big-endian order matters
}

TEST(Eval, NotRangeAndOrderingOps) {
  auto mk = [](ir::Match m) { return table(ir::Family::kIp, {base_chain("in", {rule(1, {std::move(m)}, b::drop())})}); };
  auto ttl = [](uint8_t v) { return Packet::ipv4("1.1.1.1", "2.2.2.2").ttl(v).udp(1, 2).l3(); };
  auto nr = mk(b::range(KnownField::kIp4Ttl, b::u8(10), b::u8(20), /*negate=*/true));
  EXPECT_EQ(run(nr, input4(), ttl(9)).verdict, kDrop);
  EXPECT_EQ(run(nr, input4(), ttl(10)).verdict, kAccept);
  EXPECT_EQ(run(nr, input4(), ttl(21)).verdict, kDrop);
  auto lt = mk(b::cmp(KnownField::kIp4Ttl, ir::Op::kLt, b::u8(64)));
  EXPECT_EQ(run(lt, input4(), ttl(63)).verdict, kDrop);
  EXPECT_EQ(run(lt, input4(), ttl(64)).verdict, kAccept);
  auto ge = mk(b::cmp(KnownField::kIp4Ttl, ir::Op::kGe, b::u8(64)));
  EXPECT_EQ(run(ge, input4(), ttl(64)).verdict, kDrop);
  EXPECT_EQ(run(ge, input4(), ttl(63)).verdict, kAccept);
  auto ne = mk(b::ne(KnownField::kIp4Ttl, b::u8(64)));
  EXPECT_EQ(run(ne, input4(), ttl(64)).verdict, kAccept);
  EXPECT_EQ(run(ne, input4(), ttl(1)).verdict, kDrop);
}

TEST(Eval, HostOrderOrderingIsNumeric) {
  // meta mark < 0x100 with mark 0xff: host bytes ff 00 00 00 vs 00 01 00 00. memcmp would say
  // "greater"; the IR convention says numeric, so it holds.
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {b::cmp(KnownField::kMetaMark, ir::Op::kLt, b::host32(0x100))}, b::drop())})});
  auto ctx = input4();
  ctx.mark = 0xff;
  EXPECT_EQ(run(t, ctx, Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).l3()).verdict, kDrop);
  ctx.mark = 0x100;
  EXPECT_EQ(run(t, ctx, Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).l3()).verdict, kAccept);
}

TEST(Eval, MaskedFlags) {
  // tcp flags & (syn|ack) == syn
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {l4(6), b::masked(KnownField::kTcpFlags, {tcpf::kSyn | tcpf::kAck}, ir::Op::kEq, {tcpf::kSyn})}, b::drop())})});
  auto f = [&](uint8_t fl) { return run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2).flags(fl).l3()).verdict; };
  EXPECT_EQ(f(tcpf::kSyn), kDrop);
  EXPECT_EQ(f(tcpf::kSyn | tcpf::kEce | tcpf::kCwr), kDrop);
  EXPECT_EQ(f(tcpf::kSyn | tcpf::kAck), kAccept);
  EXPECT_EQ(f(tcpf::kAck), kAccept);
  EXPECT_EQ(f(0), kAccept);
}

// ---- fragments, truncation, extension headers ----------------------------------------------

TEST(Eval, NonFirstFragmentsAndThePayloadFastPath) {
  // Semantics verified against the kernel (kernel_diff_test): aligned 1/2/4-byte transport loads
  // (nft_payload_fast_eval) ignore the fragment offset; other loads refuse non-first fragments.
  ir::Field sport_lo_dport_hi{.base = ir::Base::kTransport, .offset = 1, .len = 2};  // unaligned: slow path
  ir::Match slow{.key = {sport_lo_dport_hi}, .op = ir::Op::kEq, .value = {0x01, 0x00}};
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {l4(6), slow}, b::drop()), rule(2, {dport(22)}, b::drop()),
                                                     rule(3, {l4(6)}, b::jump("x"))}),
                                  chain("x", {rule(4, {}, b::drop())})});
  // First fragment (offset 0, MF): the TCP header is there; the slow load matches (sport 1).
  auto first = run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").fragment(0, true).tcp(1, 22).l3());
  EXPECT_EQ(first.rule, 1u);
  // Non-first fragment whose bytes look like sport 1 / dport 22: the slow load breaks, the fast
  // one reads the bytes at thoff anyway.
  auto later = run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").fragment(8, false).tcp(1, 22).l3());
  EXPECT_EQ(later.rule, 2u);
  // With other bytes there, meta l4proto still says tcp.
  auto other = run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").fragment(8, false).tcp(7, 7).l3());
  EXPECT_EQ(other.chain, "x");
  EXPECT_EQ(other.rule, 4u);
}

TEST(Eval, Ipv6NonFirstFragmentFastLoadsReadTheIpv6Header) {
  // ipv6_find_hdr leaves thoff at 0 for a non-first fragment, so "@th,0,16" reads the first two
  // bytes of the IPv6 header (0x6000 here): verified against the kernel.
  ir::Field th0{.base = ir::Base::kTransport, .offset = 0, .len = 2};
  auto t = table(ir::Family::kIp6, {base_chain("in", {rule(1, {l4(6), ir::Match{.key = {th0}, .op = ir::Op::kEq, .value = {0x60, 0x00}}}, b::drop())})});
  auto pk = [] { return Packet::ipv6("2001:db8::1", "2001:db8::2"); };
  EXPECT_EQ(run(t, input6(), pk().fragment(16, false).tcp(1, 22).l3()).verdict, kDrop);
  EXPECT_EQ(run(t, input6(), pk().fragment(0, true).tcp(1, 22).l3()).verdict, kAccept);
}

TEST(Eval, LoadBeyondPacketBreaks) {
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {dport(22)}, b::drop())})});
  Packet p = Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 22);
  // dport is bytes 22..23 of the packet.
  EXPECT_EQ(run(t, input4(), Packet(p).truncate(24).l3()).verdict, kDrop);
  EXPECT_EQ(run(t, input4(), Packet(p).truncate(23).l3()).verdict, kAccept);
  EXPECT_EQ(run(t, input4(), Packet(p).truncate(20).l3()).verdict, kAccept);
  // A network-header load past the end breaks too: ip daddr needs bytes 16..19.
  auto t2 = table(ir::Family::kIp, {base_chain("in", {rule(1, {b::ne(KnownField::kIp4Daddr, ip4("9.9.9.9"))}, b::drop())})});
  EXPECT_EQ(run(t2, input4(), Packet(p).truncate(20).l3()).verdict, kDrop);
}

TEST(Eval, Ipv4OptionsMoveTheTransportHeader) {
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {l4(17), b::eq(KnownField::kUdpDport, b::be16(53))}, b::drop())})});
  EXPECT_EQ(run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").ip_options({1, 1, 1, 1, 1, 1, 1, 1}).udp(1, 53).l3()).verdict, kDrop);
  // At ip hooks the header is trusted: a wrong IHL moves the transport header with it (nft reads
  // ihl*4). IHL 6 with no options: the "UDP header" starts 4 bytes late, so "udp sport" is then
  // the real UDP length field (8 = 0x0008).
  auto t8 = table(ir::Family::kIp, {base_chain("in", {rule(1, {l4(17), b::eq(KnownField::kUdpSport, b::be16(8))}, b::drop())})});
  EXPECT_EQ(run(t8, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 53).ihl(6).l3()).verdict, kDrop);
}

TEST(Eval, Ipv6ExtensionHeadersAreSkipped) {
  auto t = table(ir::Family::kIp6, {base_chain("in", {rule(1, {l4(6), dport(22)}, b::drop())})});
  auto pk = [] { return Packet::ipv6("2001:db8::1", "2001:db8::2"); };
  EXPECT_EQ(run(t, input6(), pk().tcp(1, 22).l3()).verdict, kDrop);
  EXPECT_EQ(run(t, input6(), pk().hop_by_hop().routing(0, 0, ir::Bytes(16, 0)).dest_opts().tcp(1, 22).l3()).verdict, kDrop);
  EXPECT_EQ(run(t, input6(), pk().hop_by_hop().fragment(0, true).tcp(1, 22).l3()).verdict, kDrop);
  // Non-first fragment: no transport reads.
  EXPECT_EQ(run(t, input6(), pk().fragment(64, true).tcp(1, 22).l3()).verdict, kAccept);
  // The IPv6 header's own nexthdr is the first extension header, not tcp.
  auto t_nh = table(ir::Family::kIp6, {base_chain("in", {rule(1, {b::eq(KnownField::kIp6NextHdr, b::u8(6))}, b::drop())})});
  EXPECT_EQ(run(t_nh, input6(), pk().hop_by_hop().tcp(1, 22).l3()).verdict, kAccept);
  EXPECT_EQ(run(t_nh, input6(), pk().tcp(1, 22).l3()).verdict, kDrop);
}

TEST(Eval, Ipv6L4ProtoCornerCases) {
  auto l4is = [](uint8_t p) {
    return table(ir::Family::kIp6, {base_chain("in", {rule(1, {l4(p)}, b::drop())})});
  };
  auto pk = [] { return Packet::ipv6("2001:db8::1", "2001:db8::2"); };
  // AH ends the walk (IP6_FH_F_AUTH): l4proto is 51 even with TCP behind it.
  EXPECT_EQ(run(l4is(51), input6(), pk().ext_header(51, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).tcp(1, 2).l3()).verdict, kDrop);
  // "No next header" counts as a protocol: 59.
  EXPECT_EQ(run(l4is(59), input6(), pk().l3()).verdict, kDrop);
  // A non-first fragment followed by another extension header: ipv6_find_hdr fails, so no
  // l4proto at all — neither 60 nor 6 matches, and "l4proto != 6" breaks too.
  Packet odd = pk().fragment(8, false).dest_opts().tcp(1, 2);
  EXPECT_EQ(run(l4is(60), input6(), odd.l3()).verdict, kAccept);
  EXPECT_EQ(run(l4is(6), input6(), odd.l3()).verdict, kAccept);
  auto ne6 = table(ir::Family::kIp6, {base_chain("in", {rule(1, {b::ne(KnownField::kMetaL4Proto, b::u8(6))}, b::drop())})});
  EXPECT_EQ(run(ne6, input6(), odd.l3()).verdict, kAccept);
  // Truncated inside an extension header: no l4proto either.
  EXPECT_EQ(run(l4is(6), input6(), pk().hop_by_hop().tcp(1, 2).truncate(41).l3()).verdict, kAccept);
}

// ---- chains: jump, goto, return, policy, stack ---------------------------------------------

ir::Table jump_table() {
  ir::Match src1 = b::eq(KnownField::kIp4Saddr, ip4("1.1.1.1"));
  return table(ir::Family::kIp,
               {base_chain("input", {rule(1, {}, b::jump("A")), rule(2, {src1}, b::drop())}),
                chain("A", {rule(10, {l4(6), dport(22)}, b::ret()), rule(11, {l4(6), dport(23)}, b::go_to("B")),
                            rule(12, {l4(6), dport(24)}, b::accept())}),
                chain("B", {rule(20, {src1}, b::ret()), rule(21, {dport(23), b::eq(KnownField::kIp4Ttl, b::u8(7))}, b::accept())})});
}

TEST(Eval, JumpReturnGoto) {
  auto t = jump_table();
  auto pkt = [](const char* src, uint16_t port, uint8_t ttl = 64) {
    return Packet::ipv4(src, "9.9.9.9").ttl(ttl).tcp(1, port).l3();
  };
  // return from A resumes input after the jump: rule 2 drops 1.1.1.1.
  auto r = run(t, input4(), pkt("1.1.1.1", 22));
  EXPECT_EQ(r.verdict, kDrop);
  EXPECT_EQ(r.chain, "input");
  EXPECT_EQ(r.rule, 2u);
  // goto B, return from B: goto pushed nothing, so we are back in input after rule 1 too.
  r = run(t, input4(), pkt("1.1.1.1", 23));
  EXPECT_EQ(r.rule, 2u);
  // Falling off the end of B also returns to input; 2.2.2.2 then reaches the policy.
  r = run(t, input4(), pkt("2.2.2.2", 23));
  EXPECT_EQ(r.verdict, kAccept);
  EXPECT_EQ(r.rule, std::nullopt);
  EXPECT_EQ(r.chain, "input");
  // accept inside B decides.
  r = run(t, input4(), pkt("2.2.2.2", 23, 7));
  EXPECT_EQ(r.verdict, kAccept);
  EXPECT_EQ(r.chain, "B");
  EXPECT_EQ(r.rule, 21u);
  r = run(t, input4(), pkt("1.1.1.1", 24));
  EXPECT_EQ(r.chain, "A");
  EXPECT_EQ(r.rule, 12u);
}

TEST(Eval, GotoToTheEndAppliesTheBasePolicy) {
  auto t = table(ir::Family::kIp, {base_chain("input", {rule(1, {}, b::go_to("C")), rule(2, {}, b::accept())}, kDrop),
                                  chain("C", {rule(3, {dport(1)}, b::accept())})});
  auto r = run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(5, 5).l3());
  EXPECT_EQ(r.verdict, kDrop);  // rule 2 never runs: goto does not come back
  EXPECT_EQ(r.rule, std::nullopt);
  EXPECT_EQ(r.chain, "input");
}

TEST(Eval, ContinueVerdictFallsThrough) {
  auto t = table(ir::Family::kIp, {base_chain("input", {rule(1, {}, ir::Verdict{}), rule(2, {}, b::drop())})});
  EXPECT_EQ(run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3()).rule, 2u);
}

TEST(Eval, JumpStackOf16) {
  // base -> c1 -> ... -> cN; each chain jumps to the next; the last accepts.
  auto make = [](int n) {
    std::vector<ir::Chain> chains;
    chains.push_back(base_chain("input", {rule(1, {}, b::jump("c1"))}, kAccept));
    for (int i = 1; i < n; ++i) chains.push_back(chain("c" + std::to_string(i), {rule(100 + i, {}, b::jump("c" + std::to_string(i + 1)))}));
    chains.push_back(chain("c" + std::to_string(n), {rule(999, {}, b::accept())}));
    return table(ir::Family::kIp, std::move(chains));
  };
  auto pkt = Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3();
  auto ok = run(make(16), input4(), pkt);  // 16 jumps: the stack holds 16 frames
  EXPECT_EQ(ok.verdict, kAccept);
  EXPECT_EQ(ok.rule, 999u);
  auto over = run(make(17), input4(), pkt);  // the 17th jump overflows: NF_DROP
  EXPECT_EQ(over.verdict, kDrop);
  EXPECT_EQ(over.chain, "c16");
}

TEST(Eval, BaseChainsRunInPriorityOrder) {
  // prio -10 accepts, prio 0 drops: accept only moves on, so the packet is dropped at prio 0.
  auto t = table(ir::Family::kIp, {base_chain("late", {rule(1, {}, b::drop())}, kAccept, ir::Hook::kInput, 0),
                                  base_chain("early", {rule(2, {}, b::accept())}, kAccept, ir::Hook::kInput, -10)});
  auto r = run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3());
  EXPECT_EQ(r.verdict, kDrop);
  EXPECT_EQ(r.chain, "late");
  // Drop early ends the hook.
  auto t2 = table(ir::Family::kIp, {base_chain("late", {rule(1, {}, b::accept())}, kAccept, ir::Hook::kInput, 0),
                                   base_chain("early", {rule(2, {}, b::drop())}, kAccept, ir::Hook::kInput, -10)});
  EXPECT_EQ(run(t2, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3()).chain, "early");
}

TEST(Eval, EqualPriorityRunsTheLaterChainFirstAndMarksCarry) {
  ir::Match mark1 = b::eq(KnownField::kMetaMark, b::host32(1));
  auto t = table(ir::Family::kIp, {base_chain("x", {rule(1, {mark1}, b::drop())}),
                                  base_chain("y", {rule(2, {ir::SetMark{.value = 1}}, b::accept())})});
  auto r = run(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3());
  EXPECT_EQ(r.verdict, kDrop);  // y ran first and set the mark x then saw
  EXPECT_EQ(r.chain, "x");
}

// ---- meta -------------------------------------------------------------------------------------

TEST(Eval, MetaKeys) {
  auto one = [](ir::Match m) { return table(ir::Family::kInet, {base_chain("in", {rule(1, {std::move(m)}, b::drop())})}); };
  auto v4 = Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 2).l3();  // 40 bytes
  auto v6 = Packet::ipv6("::1", "::2").udp(1, 2).l3();           // 48 bytes
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaIifName, b::ifname("eth0"))), input4(), v4).verdict, kDrop);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaIifName, b::ifname("eth1"))), input4(), v4).verdict, kAccept);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaIif, b::host32(2))), input4(), v4).verdict, kDrop);
  // No output device at input: oif reads 0 and oifname "" (no break).
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaOif, b::host32(0))), input4(), v4).verdict, kDrop);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaOifName, b::ifname(""))), input4(), v4).verdict, kDrop);
  // ... but oiftype needs a device: the rule breaks even for "!=".
  EXPECT_EQ(run(one(b::ne(KnownField::kMetaOifType, {1, 0})), input4(), v4).verdict, kAccept);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaIifType, {1, 0})), input4(), v4).verdict, kDrop);  // ARPHRD_ETHER, host order
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaLen, b::host32(40))), input4(), v4).verdict, kDrop);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaLen, b::host32(48))), input6(), v6).verdict, kDrop);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaNfProto, b::u8(2))), input4(), v4).verdict, kDrop);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaNfProto, b::u8(10))), input6(), v6).verdict, kDrop);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaProtocol, b::be16(0x86dd))), input6(), v6).verdict, kDrop);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaL4Proto, b::u8(17))), input6(), v6).verdict, kDrop);
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaPktType, b::u8(0))), input4(), v4).verdict, kDrop);
  // skuid without a socket breaks; with one it reads.
  EXPECT_EQ(run(one(b::ne(KnownField::kMetaSkUid, b::host32(1))), input4(), v4).verdict, kAccept);
  auto ctx = input4();
  ctx.sk_uid = 1000;
  EXPECT_EQ(run(one(b::eq(KnownField::kMetaSkUid, b::host32(1000))), ctx, v4).verdict, kDrop);
}

TEST(Eval, MarkSetIsSeenByLaterRulesAndReported) {
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {ir::SetMark{.clear = 0xffff0000, .value = 0x5}}, ir::Verdict{}),
                                                     rule(2, {b::eq(KnownField::kMetaMark, b::host32(0x12340005))}, b::accept()),
                                                     rule(3, {}, b::drop())})});
  auto ctx = input4();
  ctx.mark = 0x1234abcd;  // (mark & ~0xffff0000) ^ 5 = 0xabcd ^ 5... no: clear keeps the high half
  // SetMark: (0x1234abcd & ~0xffff0000) ^ 5 = 0x0000abcd ^ 5 = 0x0000abc8.
  EvalState st;
  auto r = evaluate(t, ctx, Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3(), st);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mark, 0x0000abc8u);
  EXPECT_EQ(r->rule, 3u);
  ctx.mark = 0x12340000;  // -> 0x00000005? no: (0x12340000 & 0x0000ffff) ^ 5 = 5
  auto t2 = table(ir::Family::kIp, {base_chain("in", {rule(1, {ir::SetMark{.clear = 0xffffffff, .value = 0x12340005}}, ir::Verdict{}),
                                                      rule(2, {b::eq(KnownField::kMetaMark, b::host32(0x12340005))}, b::accept()),
                                                      rule(3, {}, b::drop())})});
  auto r2 = evaluate(t2, ctx, Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3(), st);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->rule, 2u);
  EXPECT_EQ(r2->mark, 0x12340005u);
}

TEST(Eval, ConntrackState) {
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {b::masked(KnownField::kCtState, b::host32(0x2 | 0x4), ir::Op::kNe, b::host32(0))}, b::accept()),
                                                     rule(2, {b::eq(KnownField::kCtState, b::host32(1))}, b::drop()),
                                                     rule(3, {b::eq(KnownField::kCtMark, b::host32(0))}, b::drop())})});
  auto pkt = Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3();
  auto ctx = input4();
  EXPECT_EQ(run(t, ctx, pkt).rule, 2u);  // no entry: invalid
  ctx.ct = Conntrack{.ctinfo = 0};      // established
  EXPECT_EQ(run(t, ctx, pkt).rule, 1u);
  ctx.ct = Conntrack{.ctinfo = 4};      // related reply
  EXPECT_EQ(run(t, ctx, pkt).rule, 1u);
  ctx.ct = Conntrack{.ctinfo = 2, .mark = 0};  // new: rule 1 and 2 miss, ct mark 0 matches
  EXPECT_EQ(run(t, ctx, pkt).rule, 3u);
  ctx.ct.reset();
  ctx.ct_untracked = true;  // state untracked (64): none of the rules, and ct mark breaks
  auto r = run(t, ctx, pkt);
  EXPECT_EQ(r.verdict, kAccept);
  EXPECT_EQ(r.rule, std::nullopt);
}

// ---- link layer, netdev ---------------------------------------------------------------------

TEST(Eval, LinkLayerReads) {
  ir::Field ether_saddr{.base = ir::Base::kLink, .offset = 6, .len = 6, .proto = ir::Proto::kEth};
  ir::Match m{.key = {ether_saddr}, .op = ir::Op::kEq, .value = {2, 0, 0, 0, 0, 1}};
  auto mk = [&](ir::Family f, ir::Hook h) { return table(f, {base_chain("c", {rule(1, {m}, b::drop())}, kAccept, h)}); };
  Packet p = Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).ether("02:00:00:00:00:01", "02:00:00:00:00:02");
  auto ctx = input4();
  ctx.l2_len = 14;
  EXPECT_EQ(run(mk(ir::Family::kIp, ir::Hook::kInput), ctx, p.bytes()).verdict, kDrop);
  // Without a link header (bare L3, as at output) the read breaks.
  EXPECT_EQ(run(mk(ir::Family::kIp, ir::Hook::kInput), input4(), p.l3()).verdict, kAccept);
  // netdev ingress.
  PacketContext nd{.family = ir::Family::kNetdev, .hook = ir::Hook::kIngress, .in = Device{.name = "veth0", .ifindex = 3}, .l2_len = 14};
  EXPECT_EQ(run(mk(ir::Family::kNetdev, ir::Hook::kIngress), nd, p.bytes()).verdict, kDrop);
}

TEST(Eval, NetdevLengthsAndDevices) {
  Packet p = Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 22).ether();  // 14 + 40
  auto mk = [](ir::Hook h, std::vector<ir::Match> ms, std::vector<std::string> devs = {}) {
    auto c = base_chain("c", {rule(1, std::vector<ir::Step>(ms.begin(), ms.end()), b::drop())}, kAccept, h);
    c.base->devices = std::move(devs);
    return table(ir::Family::kNetdev, {c});
  };
  PacketContext in{.family = ir::Family::kNetdev, .hook = ir::Hook::kIngress, .in = Device{.name = "veth0"}, .l2_len = 14};
  PacketContext out{.family = ir::Family::kNetdev, .hook = ir::Hook::kEgress, .out = Device{.name = "veth0"}, .l2_len = 14};
  // skb->len excludes the link header at ingress and includes it at egress.
  EXPECT_EQ(run(mk(ir::Hook::kIngress, {b::eq(KnownField::kMetaLen, b::host32(40))}), in, p.bytes()).verdict, kDrop);
  EXPECT_EQ(run(mk(ir::Hook::kEgress, {b::eq(KnownField::kMetaLen, b::host32(54))}), out, p.bytes()).verdict, kDrop);
  // Network and transport bases are the L3/L4 headers in both directions.
  std::vector<ir::Match> tcp22 = {b::eq(KnownField::kIp4Saddr, ip4("1.1.1.1")), l4(6), dport(22)};
  EXPECT_EQ(run(mk(ir::Hook::kIngress, tcp22), in, p.bytes()).verdict, kDrop);
  EXPECT_EQ(run(mk(ir::Hook::kEgress, tcp22), out, p.bytes()).verdict, kDrop);
  EXPECT_EQ(run(mk(ir::Hook::kIngress, {b::eq(KnownField::kMetaNfProto, b::u8(5))}), in, p.bytes()).verdict, kDrop);
  // Device lists: a chain for another device does not run.
  EXPECT_EQ(run(mk(ir::Hook::kIngress, {}, {"veth1"}), in, p.bytes()).verdict, kAccept);
  EXPECT_EQ(run(mk(ir::Hook::kIngress, {}, {"veth1", "veth0"}), in, p.bytes()).verdict, kDrop);
  // netdev validates the IPv4 header: a total length beyond the packet means no transport.
  Packet bad = Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 22).total_length(100).ether();
  EXPECT_EQ(run(mk(ir::Hook::kIngress, {l4(6)}), in, bad.bytes()).verdict, kAccept);
  EXPECT_EQ(run(mk(ir::Hook::kIngress, {b::eq(KnownField::kIp4Saddr, ip4("1.1.1.1"))}), in, bad.bytes()).verdict, kDrop);
}

TEST(Eval, InetIngressDropsInvalidIpAndSkipsNonIp) {
  auto c = base_chain("c", {rule(1, {}, b::accept())}, kAccept, ir::Hook::kIngress);
  auto t = table(ir::Family::kInet, {c});
  PacketContext in{.family = ir::Family::kNetdev, .hook = ir::Hook::kIngress, .in = Device{.name = "veth0"}, .l2_len = 14};
  auto r = run(t, in, Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).ihl(4).ether().bytes());
  EXPECT_EQ(r.verdict, kDrop);
  EXPECT_EQ(r.rule, std::nullopt);
  EXPECT_EQ(run(t, in, Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).ether().bytes()).rule, 1u);
  auto arp = run(t, in, Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).ethertype(0x0806).bytes());
  EXPECT_EQ(arp.verdict, kAccept);
  EXPECT_EQ(arp.rule, std::nullopt);
}

// ---- sets and maps ----------------------------------------------------------------------------

TEST(Eval, SetsExactIntervalConcat) {
  ir::Set exact{.name = "ex", .key_parts = {4}, .key_len = 4,
                .elements = {{.key = ip4("1.1.1.1")}, {.key = ip4("3.3.3.3")}}};
  ir::Set ports{.name = "pr", .flags = ir::kSetInterval, .key_parts = {2}, .key_len = 2,
                .elements = {{.key = b::be16(100), .key_end = b::be16(199)}, {.key = b::be16(443)}}};
  // ip saddr . tcp dport, concatenated: 4 + (2 padded to 4).
  auto cat_key = [](std::string_view a, uint16_t p) { ir::Bytes k = ip4(a); auto pp = b::be16(p); k.insert(k.end(), pp.begin(), pp.end()); k.push_back(0); k.push_back(0); return k; };
  ir::Set cat{.name = "cat", .flags = ir::kSetConcat, .key_parts = {4, 2}, .key_len = 8, .elements = {{.key = cat_key("5.5.5.5", 80)}}};
  // Concatenated intervals: each part in its own range.
  ir::Set catr{.name = "catr", .flags = ir::kSetInterval | ir::kSetConcat, .key_parts = {4, 2}, .key_len = 8,
               .elements = {{.key = cat_key("10.0.0.0", 1000), .key_end = cat_key("10.0.0.255", 2000)}}};
  ir::Field saddr = ir::known_field(KnownField::kIp4Saddr), dp = ir::known_field(KnownField::kTcpDport);
  auto t = table(ir::Family::kIp,
                 {base_chain("in", {rule(1, {b::in_set({saddr}, "ex")}, b::drop()),
                                    rule(2, {l4(6), b::in_set({dp}, "pr")}, b::drop()),
                                    rule(3, {l4(6), b::in_set({saddr, dp}, "cat")}, b::drop()),
                                    rule(4, {l4(6), b::in_set({saddr, dp}, "catr")}, b::drop()),
                                    rule(5, {b::in_set({saddr}, "ex", /*negate=*/true), b::eq(KnownField::kIp4Ttl, b::u8(1))}, b::drop())})},
                 {exact, ports, cat, catr});
  auto pk = [](const char* s, uint16_t port, uint8_t ttl = 64) { return Packet::ipv4(s, "9.9.9.9").ttl(ttl).tcp(1, port).l3(); };
  EXPECT_EQ(run(t, input4(), pk("3.3.3.3", 1)).rule, 1u);
  EXPECT_EQ(run(t, input4(), pk("2.2.2.2", 99)).rule, std::nullopt);
  EXPECT_EQ(run(t, input4(), pk("2.2.2.2", 100)).rule, 2u);
  EXPECT_EQ(run(t, input4(), pk("2.2.2.2", 199)).rule, 2u);
  EXPECT_EQ(run(t, input4(), pk("2.2.2.2", 200)).rule, std::nullopt);
  EXPECT_EQ(run(t, input4(), pk("2.2.2.2", 443)).rule, 2u);
  EXPECT_EQ(run(t, input4(), pk("5.5.5.5", 80)).rule, 3u);
  EXPECT_EQ(run(t, input4(), pk("5.5.5.5", 81)).rule, std::nullopt);
  EXPECT_EQ(run(t, input4(), pk("10.0.0.7", 1500)).rule, 4u);
  // 10.0.0.7:999 is inside the whole-key memcmp range [10.0.0.0:1000, 10.0.0.255:2000] but
  // outside the port's own range: pipapo says no.
  EXPECT_EQ(run(t, input4(), pk("10.0.0.7", 999)).rule, std::nullopt);
  EXPECT_EQ(run(t, input4(), pk("10.0.1.0", 1500)).rule, std::nullopt);
  EXPECT_EQ(run(t, input4(), pk("7.7.7.7", 1, 1)).rule, 5u);
  EXPECT_EQ(run(t, input4(), pk("1.1.1.1", 1, 1)).rule, 1u);
}

TEST(Eval, CatchAllAnswersOnlyMisses) {
  // nft_set_catchall_lookup: the '*' element answers when no element does; without it, a miss.
  ir::Set ex{.name = "ex", .key_parts = {4}, .key_len = 4, .elements = {{.key = ip4("1.1.1.1")}}};
  ir::Set vm{.name = "vm", .flags = ir::kSetMap, .key_parts = {2}, .key_len = 2, .verdict_map = true,
             .elements = {{.key = b::be16(22), .verdict = b::accept()}}};
  EXPECT_EQ(set_lookup(ex, ip4("2.2.2.2")), nullptr);
  EXPECT_EQ(set_lookup(vm, b::be16(80)), nullptr);
  ex.catchall = ir::Element{};
  vm.catchall = ir::Element{.verdict = b::drop()};
  EXPECT_EQ(set_lookup(ex, ip4("2.2.2.2")), &*ex.catchall);
  EXPECT_EQ(set_lookup(ex, ip4("1.1.1.1")), &ex.elements[0]);  // an element wins over '*'
  EXPECT_EQ(set_lookup(vm, b::be16(22)), &vm.elements[0]);
  EXPECT_EQ(set_lookup(vm, b::be16(80)), &*vm.catchall);
  ir::Field dp = ir::known_field(KnownField::kTcpDport);
  auto t = table(ir::Family::kIp,
                 {base_chain("in", {rule(1, {l4(6), ir::VerdictMap{.key = {dp}, .set = "vm"}}, b::accept()),
                                    rule(2, {}, b::accept())})},
                 {vm});
  auto pk = [](uint16_t port) { return Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, port).l3(); };
  EXPECT_EQ(run(t, input4(), pk(22)).verdict, kAccept);
  auto r = run(t, input4(), pk(80));
  EXPECT_EQ(r.verdict, kDrop);
  EXPECT_EQ(r.rule, 1u);
}

TEST(Eval, VerdictMap) {
  ir::Set vm{.name = "vm", .flags = ir::kSetMap, .key_parts = {2}, .key_len = 2, .verdict_map = true,
             .elements = {{.key = b::be16(22), .verdict = b::accept()},
                          {.key = b::be16(23), .verdict = b::drop()},
                          {.key = b::be16(24), .verdict = b::jump("sub")},
                          {.key = b::be16(25), .verdict = ir::Verdict{}}}};
  ir::Field dp = ir::known_field(KnownField::kTcpDport);
  auto t = table(ir::Family::kIp,
                 {base_chain("in", {rule(1, {l4(6), ir::VerdictMap{.key = {dp}, .set = "vm"}, b::eq(KnownField::kIp4Ttl, b::u8(1))}, b::drop()),
                                    rule(2, {}, b::accept())}),
                  chain("sub", {rule(9, {}, b::drop())})},
                 {vm});
  auto pk = [](uint16_t port, uint8_t ttl = 64) { return Packet::ipv4("1.1.1.1", "2.2.2.2").ttl(ttl).tcp(1, port).l3(); };
  auto r = run(t, input4(), pk(22));
  EXPECT_EQ(r.verdict, kAccept);
  EXPECT_EQ(r.rule, 1u);  // the map's verdict, not rule 1's own
  EXPECT_EQ(run(t, input4(), pk(23)).verdict, kDrop);
  EXPECT_EQ(run(t, input4(), pk(24)).chain, "sub");
  EXPECT_EQ(run(t, input4(), pk(26)).rule, 2u);        // no element: rule 1 does not match
  EXPECT_EQ(run(t, input4(), pk(25)).rule, 2u);        // continue: the rest of rule 1 runs (ttl != 1)
  auto r25 = run(t, input4(), pk(25, 1));
  EXPECT_EQ(r25.rule, 1u);
  EXPECT_EQ(r25.verdict, kDrop);
}

// ---- stateful statements ------------------------------------------------------------------------

TEST(Eval, CountersCountWhereTheyStand) {
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {ir::Counter{}, dport(22), ir::Counter{}}, ir::Verdict{})})});
  EvalState st;
  auto hit = Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 22).payload_size(10).l3();  // 50 bytes
  auto miss = Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 23).l3();                   // 40 bytes
  run(t, input4(), hit, st);
  run(t, input4(), miss, st);
  run(t, input4(), hit, st);
  RuleRef r1{"t", "in", 1};
  EXPECT_EQ((st.counters[StepRef{r1, 0}]), (CounterValue{3, 140}));
  EXPECT_EQ((st.counters[StepRef{r1, 2}]), (CounterValue{2, 100}));
  EXPECT_EQ(st.rule_matches[r1], (CounterValue{2, 100}));
}

TEST(Eval, NamedCounterAndQuota) {
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {ir::ObjectRef{"counter", "c"}, ir::Quota{.bytes = 100}}, b::accept()),
                                                     rule(2, {ir::ObjectRef{"quota", "q"}}, b::drop())})});
  EvalState st;
  st.define_quota("t", "q", ir::Quota{.bytes = 50, .over = true});
  auto p = Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 1).l3();  // 40 bytes
  // 40, 80: under 100 -> accept. 120 > 100 -> rule 1 breaks; quota q (over) sees 40: not over -> breaks too.
  EXPECT_EQ(run(t, input4(), p, st).rule, 1u);
  EXPECT_EQ(run(t, input4(), p, st).rule, 1u);
  EXPECT_EQ(run(t, input4(), p, st).rule, std::nullopt);
  // q has now seen 40 + 40 = 80 > 50: "over" holds.
  EXPECT_EQ(run(t, input4(), p, st).rule, 2u);
  EXPECT_EQ((st.named_counters[{"t", "c"}]), (CounterValue{4, 160}));
  // An undeclared object is an error, not a guess.
  auto t2 = table(ir::Family::kIp, {base_chain("in", {rule(1, {ir::ObjectRef{"limit", "nope"}}, b::drop())})});
  EvalState st2;
  EXPECT_FALSE(evaluate(t2, input4(), p, st2).has_value());
}

TEST(Eval, LimitTokenBucketOnTheVirtualClock) {
  // 1 packet per second, burst 2: at t=0 two packets pass, the third does not; one second later
  // one more token; after 10 s the bucket holds at most 2.
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {ir::Limit{.rate = 1, .unit_seconds = 1, .burst = 2}}, b::accept())}, kDrop)});
  EvalState st;
  auto p = Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3();
  auto at = [&](uint64_t ns) {
    auto ctx = input4();
    ctx.now_ns = ns;
    return run(t, ctx, p, st).verdict;
  };
  EXPECT_EQ(at(0), kAccept);
  EXPECT_EQ(at(0), kAccept);
  EXPECT_EQ(at(0), kDrop);
  EXPECT_EQ(at(500'000'000), kDrop);  // half a token
  EXPECT_EQ(at(1'000'000'000), kAccept);
  EXPECT_EQ(at(1'000'000'000), kDrop);
  EXPECT_EQ(at(11'000'000'000), kAccept);
  EXPECT_EQ(at(11'000'000'000), kAccept);
  EXPECT_EQ(at(11'000'000'000), kDrop);
  // Default burst for packet limits is 5; "over" inverts.
  auto t5 = table(ir::Family::kIp, {base_chain("in", {rule(1, {ir::Limit{.rate = 10, .unit_seconds = 60, .over = true}}, b::drop())})});
  EvalState s5;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(run(t5, input4(), p, s5).verdict, kAccept) << i;
  EXPECT_EQ(run(t5, input4(), p, s5).verdict, kDrop);
}

TEST(Eval, ByteLimit) {
  // 100 bytes/s, burst 0: bucket = 1 s worth (1e9 ns); a 40-byte packet costs 0.4 s.
  auto t = table(ir::Family::kIp, {base_chain("in", {rule(1, {ir::Limit{.rate = 100, .unit_seconds = 1, .bytes = true}}, b::accept())}, kDrop)});
  EvalState st;
  auto p = Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 1).l3();
  EXPECT_EQ(run(t, input4(), p, st).verdict, kAccept);  // 1.0 -> 0.6
  EXPECT_EQ(run(t, input4(), p, st).verdict, kAccept);  // 0.6 -> 0.2
  EXPECT_EQ(run(t, input4(), p, st).verdict, kDrop);    // 0.2 < 0.4
}

TEST(Eval, TraceExplainsTheDecision) {
  auto t = table(ir::Family::kIp, {base_chain("input", {rule(5, {l4(6), dport(22)}, b::drop())})});
  EvalState st;
  auto r = evaluate(t, input4(), Packet::ipv4("1.1.1.1", "2.2.2.2").tcp(1, 23).l3(), st);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->trace.size(), 2u);
  EXPECT_EQ(r->trace[0].kind, TraceEvent::Kind::kNoMatch);
  EXPECT_EQ(r->trace[0].rule, 5u);
  EXPECT_NE(r->trace[0].detail.find("tcp dport"), std::string::npos) << r->trace[0].detail;
  EXPECT_EQ(r->trace[1].kind, TraceEvent::Kind::kPolicy);
  EXPECT_EQ(r->describe(), "accept by t/input policy");
}

TEST(Eval, MalformedIrIsAnError) {
  EvalState st;
  auto p = Packet::ipv4("1.1.1.1", "2.2.2.2").udp(1, 1).l3();
  auto bad_len = table(ir::Family::kIp, {base_chain("in", {rule(1, {b::eq(KnownField::kIp4Saddr, b::be16(1))})})});
  EXPECT_FALSE(evaluate(bad_len, input4(), p, st).has_value());
  auto no_chain = table(ir::Family::kIp, {base_chain("in", {rule(1, {}, b::jump("nope"))})});
  EXPECT_EQ(evaluate(no_chain, input4(), p, st).error().err, ENOENT);
  auto no_set = table(ir::Family::kIp, {base_chain("in", {rule(1, {b::in_set({ir::known_field(KnownField::kIp4Saddr)}, "nope")})})});
  EXPECT_EQ(evaluate(no_set, input4(), p, st).error().err, ENOENT);
}

}  // namespace
}  // namespace nfbpf::eval
