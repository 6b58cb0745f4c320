// The register machine, op by op, with expectations derived by hand from the kernel's eval code.
#include <gtest/gtest.h>

#include <cstring>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/ir/build.h"

namespace nfbpf::eval {
namespace {

using packet::Packet;
namespace b = ir::build;
namespace r = ir::reg;

ir::Bytes code(int32_t c) {
  ir::Bytes v(4);
  std::memcpy(v.data(), &c, 4);
  return v;
}

// One base chain at ip input: rule 1 = the block, verdict drop; policy accept.
struct BlockRunner {
  std::vector<ir::Set> sets;
  std::optional<EvalResult> operator()(std::vector<r::Op> ops, const ir::Bytes& pkt, PacketContext ctx = {}) {
    ir::Table t{.family = ir::Family::kIp, .name = "t",
                .chains = {ir::Chain{.name = "in", .base = ir::BaseHook{}, .rules = {ir::Rule{.handle = 1, .steps = {ir::RegisterBlock{std::move(ops)}}, .verdict = b::drop()},
                                                                                      ir::Rule{.handle = 2, .verdict = ir::Verdict{}}}},
                           ir::Chain{.name = "sub", .rules = {ir::Rule{.handle = 9, .verdict = b::drop()}}}},
                .sets = sets};
    EvalState st;
    auto res = evaluate(t, ctx, pkt, st);
    if (!res) {
      last_error = res.error().describe();
      return std::nullopt;
    }
    return *res;
  }
  std::string last_error;
};

ir::Field saddr() { return ir::known_field(ir::KnownField::kIp4Saddr); }
const auto kPkt = Packet::ipv4("10.1.2.3", "10.9.9.9").tcp(0x1234, 80).l3();

bool dropped(const std::optional<EvalResult>& res) { return res && res->verdict == ir::VerdictKind::kDrop && res->rule == 1u; }

TEST(RegBlock, LoadCmp) {
  BlockRunner run;
  EXPECT_TRUE(dropped(run({r::Load{4, saddr()}, r::Cmp{4, ir::Op::kEq, {10, 1, 2, 3}}}, kPkt)));
  EXPECT_FALSE(dropped(run({r::Load{4, saddr()}, r::Cmp{4, ir::Op::kEq, {10, 1, 2, 4}}}, kPkt)));
  // cmp is memcmp for every op, also lt/gt.
  EXPECT_TRUE(dropped(run({r::Load{4, saddr()}, r::Cmp{4, ir::Op::kLt, {10, 1, 2, 4}}}, kPkt)));
  EXPECT_FALSE(dropped(run({r::Load{4, saddr()}, r::Cmp{4, ir::Op::kGt, {10, 1, 2, 4}}}, kPkt)));
  // meta mark 0xff vs 0x100 in host order: bytes ff000000 vs 00010000 -> memcmp says greater.
  PacketContext ctx;
  ctx.mark = 0xff;
  ir::Field mark = ir::known_field(ir::KnownField::kMetaMark);
  EXPECT_FALSE(dropped(run({r::Load{8, mark}, r::Cmp{8, ir::Op::kLt, b::host32(0x100)}}, kPkt, ctx)));
  EXPECT_TRUE(dropped(run({r::Load{8, mark}, r::Cmp{8, ir::Op::kGt, b::host32(0x100)}}, kPkt, ctx)));
}

TEST(RegBlock, PayloadLoadZeroPadsTheLastWord) {
  BlockRunner run;
  // Immediate fills r4 with ff.., then a 2-byte load: the word's other 2 bytes become 0.
  ir::Field dport = ir::known_field(ir::KnownField::kTcpDport);
  EXPECT_TRUE(dropped(run({r::Immediate{4, {0xff, 0xff, 0xff, 0xff}}, r::Load{4, dport}, r::Cmp{4, ir::Op::kEq, {0, 80, 0, 0}}}, kPkt)));
}

TEST(RegBlock, Bitwise) {
  BlockRunner run;
  // (10.1.2.3 & 255.255.0.0) ^ 0.0.0.1 = 10.1.0.1
  EXPECT_TRUE(dropped(run({r::Load{4, saddr()}, r::Bitwise{4, 8, 4, {0xff, 0xff, 0, 0}, {0, 0, 0, 1}}, r::Cmp{8, ir::Op::kEq, {10, 1, 0, 1}},
                           r::Cmp{4, ir::Op::kEq, {10, 1, 2, 3}}}, kPkt)));
}

TEST(RegBlock, Shifts) {
  BlockRunner run;
  // Host-order words (little endian): r4 = 0x80000001, r5 = 0x00000003 (bytes 01 00 00 80 03 00 00 00).
  ir::Bytes in = {0x01, 0x00, 0x00, 0x80, 0x03, 0x00, 0x00, 0x00};
  // lshift 1 over 8 bytes, carry from word 1 into word 0 (kernel walks from the last word):
  // word1 = 3 << 1 = 6; word0 = (0x80000001 << 1) | (3 >> 31 = 0) = 0x00000002.
  EXPECT_TRUE(dropped(run({r::Immediate{4, in}, r::Shift{4, 4, 8, true, 1}, r::Cmp{4, ir::Op::kEq, {0x02, 0, 0, 0, 0x06, 0, 0, 0}}}, kPkt)));
  // rshift 1: word0 = 0x80000001 >> 1 = 0x40000000; word1 = (carry = 0x80000001 << 31 = 0x80000000) | (3 >> 1 = 1).
  EXPECT_TRUE(dropped(run({r::Immediate{4, in}, r::Shift{4, 4, 8, false, 1}, r::Cmp{4, ir::Op::kEq, {0, 0, 0, 0x40, 0x01, 0, 0, 0x80}}}, kPkt)));
}

TEST(RegBlock, ByteOrderKeepsTheKernelsWordStride) {
  BlockRunner run;
  ir::Bytes in = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  // size 4, len 8: each 32-bit word swapped.
  EXPECT_TRUE(dropped(run({r::Immediate{4, in}, r::ByteOrder{4, 8, true, 8, 4}, r::Cmp{8, ir::Op::kEq, {0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55}}}, kPkt)));
  // size 2, len 4: two u16 at byte offsets 0 and 4 (u32 stride), bytes 2-3 of r4 untouched in dst
  // only if dst == src; here dst = src = r4.
  EXPECT_TRUE(dropped(run({r::Immediate{4, in}, r::ByteOrder{4, 4, false, 4, 2}, r::Cmp{4, ir::Op::kEq, {0x22, 0x11, 0x33, 0x44, 0x66, 0x55, 0x77, 0x88}}}, kPkt)));
  // size 8, len 8: one 64-bit swap.
  EXPECT_TRUE(dropped(run({r::Immediate{4, in}, r::ByteOrder{4, 4, true, 8, 8}, r::Cmp{4, ir::Op::kEq, {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}}}, kPkt)));
}

TEST(RegBlock, Range) {
  BlockRunner run;
  ir::Field dport = ir::known_field(ir::KnownField::kTcpDport);
  EXPECT_TRUE(dropped(run({r::Load{4, dport}, r::Range{4, false, b::be16(80), b::be16(80)}}, kPkt)));
  EXPECT_FALSE(dropped(run({r::Load{4, dport}, r::Range{4, false, b::be16(81), b::be16(90)}}, kPkt)));
  EXPECT_FALSE(dropped(run({r::Load{4, dport}, r::Range{4, true, b::be16(0), b::be16(80)}}, kPkt)));
  EXPECT_TRUE(dropped(run({r::Load{4, dport}, r::Range{4, true, b::be16(81), b::be16(90)}}, kPkt)));
}

TEST(RegBlock, LookupDataMapAndVerdicts) {
  BlockRunner run;
  run.sets = {ir::Set{.name = "dm", .flags = ir::kSetMap, .key_parts = {4}, .key_len = 4, .data_len = 4,
                      .elements = {{.key = {10, 1, 2, 3}, .data = b::host32(7)}}},
              ir::Set{.name = "vm", .flags = ir::kSetMap, .key_parts = {4}, .key_len = 4, .verdict_map = true,
                      .elements = {{.key = {10, 1, 2, 3}, .verdict = b::accept()}, {.key = {10, 1, 2, 4}, .verdict = b::jump("sub")}}}};
  // Data map: saddr -> 7 into r8, then compared.
  EXPECT_TRUE(dropped(run({r::Load{4, saddr()}, r::Lookup{4, "dm", false, 8}, r::Cmp{8, ir::Op::kEq, b::host32(7)}}, kPkt)));
  // Inverted lookup of a present key breaks.
  EXPECT_FALSE(dropped(run({r::Load{4, saddr()}, r::Lookup{4, "dm", true, std::nullopt}}, kPkt)));
  // Verdict map into register 0: accept decides the rule (rule 1, verdict accept, not drop).
  auto v = run({r::Load{4, saddr()}, r::Lookup{4, "vm", false, 0}}, kPkt);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->verdict, ir::VerdictKind::kAccept);
  EXPECT_EQ(v->rule, 1u);
  auto j = run({r::Load{4, saddr()}, r::Lookup{4, "vm", false, 0}}, Packet::ipv4("10.1.2.4", "1.1.1.1").udp(1, 1).l3());
  ASSERT_TRUE(j);
  EXPECT_EQ(j->chain, "sub");
  // Immediate verdicts: accept; jump with the chain name after the code; break.
  auto a = run({r::Immediate{0, code(1)}}, kPkt);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->verdict, ir::VerdictKind::kAccept);
  ir::Bytes jmp = code(-3);
  for (char c : std::string("sub")) jmp.push_back(static_cast<uint8_t>(c));
  auto js = run({r::Immediate{0, jmp}}, kPkt);
  ASSERT_TRUE(js);
  EXPECT_EQ(js->chain, "sub");
  EXPECT_EQ(js->rule, 9u);
  auto brk = run({r::Immediate{0, code(-2)}}, kPkt);
  ASSERT_TRUE(brk);
  EXPECT_EQ(brk->rule, std::nullopt);
}

TEST(RegBlock, SetMetaMarkAndErrors) {
  BlockRunner run;
  auto res = run({r::Immediate{4, b::host32(42)}, r::SetMeta{ir::MetaKey::kMark, 4}}, kPkt);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->mark, 42u);
  // A 16-byte load at register 17 overruns the 80-byte file.
  EXPECT_FALSE(run({r::Load{17, ir::known_field(ir::KnownField::kIp6Saddr)}}, kPkt));
  EXPECT_NE(run.last_error.find("overrun"), std::string::npos) << run.last_error;
  // Data ops on the verdict register are refused.
  EXPECT_FALSE(run({r::Load{0, saddr()}}, kPkt));
}

}  // namespace
}  // namespace nfbpf::eval
