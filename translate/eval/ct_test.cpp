// ct keys in the evaluator; expectations written by hand from nft_ct_get_eval (net/netfilter/nft_ct.c),
// never taken from the evaluator: no entry breaks every key but state, tuples follow the
// expression's direction, ip/ip6 keys break on the other family, accounting reads 0 without the
// extension and sums both directions without one, zone ids apply per direction.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/ir/build.h"
#include "translate/ir/fields.h"

namespace nfbpf::eval {
namespace {

using packet::Packet;
namespace b = ir::build;

ir::Field ct(ir::CtKey k, uint32_t len, ir::CtDir dir = ir::CtDir::kAny) {
  ir::Field f{.base = ir::Base::kCt, .len = len, .key = static_cast<uint8_t>(k), .dir = dir};
  f.host_order = ir::natively_host_order(f);
  return f;
}
ir::Bytes le(uint64_t v, size_t n) {
  ir::Bytes r(n);
  for (size_t i = 0; i < n; ++i) r[i] = static_cast<uint8_t>(v >> (8 * i));
  return r;
}

// Whether `m` holds for a UDP packet seen at input with conntrack entry `c` (nullopt: none).
bool holds(const ir::Match& m, std::optional<Conntrack> c, ir::Family fam = ir::Family::kIp) {
  ir::Table t{.family = fam, .name = "t"};
  t.chains.push_back(ir::Chain{.name = "in", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = ir::VerdictKind::kAccept,
                               .rules = {ir::Rule{.handle = 1, .steps = {m}, .verdict = b::drop()}}});
  PacketContext ctx{.family = ir::Family::kIp, .hook = ir::Hook::kInput, .in = Device{.name = "eth0", .ifindex = 2}};
  ctx.ct = c;
  EvalState st;
  auto r = evaluate(t, ctx, Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1000, 53).l3(), st);
  EXPECT_TRUE(r.has_value());
  return r && r->verdict == ir::VerdictKind::kDrop;
}
ir::Match eq(ir::Field f, ir::Bytes v) { return ir::Match{.key = {f}, .op = ir::Op::kEq, .value = std::move(v)}; }

Conntrack udp_entry() {
  Conntrack c;
  c.ctinfo = 3;  // IP_CT_ESTABLISHED_REPLY
  c.mark = 5;
  c.l3num = 2;
  c.protonum = 17;
  const uint8_t a[4] = {10, 0, 0, 1}, z[4] = {10, 0, 0, 2};
  std::memcpy(c.tuple[0].src.data(), a, 4);
  std::memcpy(c.tuple[0].dst.data(), z, 4);
  std::memcpy(c.tuple[1].src.data(), z, 4);
  std::memcpy(c.tuple[1].dst.data(), a, 4);
  c.tuple[0].sport_be = htons(1000);
  c.tuple[0].dport_be = htons(53);
  c.tuple[1].sport_be = htons(53);
  c.tuple[1].dport_be = htons(1000);
  return c;
}

TEST(EvalCt, WithoutAnEntryEveryKeyButStateBreaks) {
  EXPECT_FALSE(holds(eq(ct(ir::CtKey::kMark, 4), le(0, 4)), std::nullopt));
  EXPECT_FALSE(holds(ir::Match{.key = {ct(ir::CtKey::kMark, 4)}, .op = ir::Op::kNe, .value = le(0, 4)}, std::nullopt));
  EXPECT_FALSE(holds(eq(ct(ir::CtKey::kBytes, 8), le(0, 8)), std::nullopt));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kState, 4), le(1, 4)), std::nullopt));  // invalid
}

TEST(EvalCt, DirectionMarkAndTuplesFollowTheEntry) {
  auto c = udp_entry();
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kDirection, 1), {1}), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kState, 4), le(2, 4)), c));  // established (reply)
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kMark, 4), le(5, 4)), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kProtocol, 1), {17}), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kSrcIp, 4, ir::CtDir::kReply), {10, 0, 0, 2}), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kSrcIp, 4, ir::CtDir::kOriginal), {10, 0, 0, 1}), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kProtoDst, 2, ir::CtDir::kOriginal), {0, 53}), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kSrc, 4, ir::CtDir::kReply), {10, 0, 0, 2}), c));
  // ip6 keys on an IPv4 entry break, even when negated.
  EXPECT_FALSE(holds(ir::Match{.key = {ct(ir::CtKey::kSrcIp6, 16, ir::CtDir::kOriginal)}, .op = ir::Op::kNe,
                               .value = ir::Bytes(16, 0)},
                     c, ir::Family::kInet));
}

TEST(EvalCt, AccountingSumsOrPicksADirectionAndReadsZeroWithoutTheExtension) {
  auto c = udp_entry();
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kBytes, 8), le(0, 8)), c));  // no extension: 0, not a break
  c.acct = true;
  c.packets = {3, 1};
  c.bytes = {300, 50};
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kPkts, 8), le(4, 8)), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kBytes, 8, ir::CtDir::kReply), le(50, 8)), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kAvgPkt, 8), le(87, 8)), c));  // 350 / 4
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kAvgPkt, 8, ir::CtDir::kOriginal), le(100, 8)), c));
  // nft's network-order form of `ct bytes > 349` (host_order = false, big-endian value).
  ir::Field be = ct(ir::CtKey::kBytes, 8);
  be.host_order = false;
  EXPECT_TRUE(holds(ir::Match{.key = {be}, .op = ir::Op::kGt, .value = {0, 0, 0, 0, 0, 0, 1, 0x5d}}, c));
  EXPECT_FALSE(holds(ir::Match{.key = {be}, .op = ir::Op::kGt, .value = {0, 0, 0, 0, 0, 0, 1, 0x5e}}, c));
  c.packets = {0, 0};
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kAvgPkt, 8), le(0, 8)), c));  // no packets: 0
}

TEST(EvalCt, ZoneIdsApplyPerDirection) {
  auto c = udp_entry();
  c.zone = 7;
  c.zone_dir = 1;  // NF_CT_ZONE_DIR_ORIG only
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kZone, 2), le(7, 2)), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kZone, 2, ir::CtDir::kOriginal), le(7, 2)), c));
  EXPECT_TRUE(holds(eq(ct(ir::CtKey::kZone, 2, ir::CtDir::kReply), le(0, 2)), c));
}

}  // namespace
}  // namespace nfbpf::eval
