#include "translate/ir/printer.h"

#include <gtest/gtest.h>

#include "translate/ir/build.h"

namespace nfbpf::ir {
namespace {

using namespace build;
using KF = KnownField;

Table example_table() {
  Table t{.family = Family::kInet, .name = "filter", .handle = 1};
  t.sets.push_back(Set{.name = "blocked", .flags = kSetInterval, .key_parts = {4}, .key_len = 4,
                       .elements = {Element{.key = *ip4("10.0.0.0"), .key_end = *ip4("10.0.0.255")}}});
  Chain in{.name = "input", .handle = 2, .base = BaseHook{.hook = Hook::kInput, .priority = 0}, .policy = VerdictKind::kDrop};
  in.rules.push_back(Rule{.handle = 3,
                          .steps = {eq(KF::kMetaL4Proto, u8(6)), eq(KF::kTcpDport, be16(22)), Counter{}},
                          .verdict = accept(),
                          .comment = "ssh"});
  in.rules.push_back(Rule{.handle = 4,
                          .steps = {prefix(KF::kIp4Saddr, *ip4("192.168.1.77"), 24),
                                    in_set({known_field(KF::kIp4Daddr)}, "blocked")},
                          .verdict = drop()});
  in.rules.push_back(Rule{.handle = 5,
                          .steps = {range(KF::kTcpSport, be16(1024), be16(65535)),
                                    RegisterBlock{{reg::Load{8, known_field(KF::kIp4Ttl)},
                                                   reg::Cmp{8, Op::kLt, u8(5)}}}},
                          .verdict = jump("low_ttl")});
  t.chains.push_back(in);
  t.chains.push_back(Chain{.name = "low_ttl", .handle = 6});
  return t;
}

TEST(Printer, PrintsTablesSetsChainsAndEveryStepKind) {
  EXPECT_EQ(to_string(example_table()),
            "table inet filter handle 1\n"
            "  set blocked key_len 4 parts [4] flags 0x4 { 0a000000-0a0000ff }\n"
            "  chain input handle 2 hook input priority 0 type filter policy drop\n"
            "    rule 3: meta l4proto == 06; tcp dport == 0016; counter -> accept # ssh\n"
            "    rule 4: ip saddr & ffffff00 == c0a80100; ip daddr in @blocked -> drop\n"
            "    rule 5: tcp sport in-range 0400-ffff; { r8 = ip ttl; r8 < 05 } -> jump low_ttl\n"
            "  chain low_ttl handle 6\n");
}

TEST(Printer, NamesUnknownFieldsByBaseOffsetLength) {
  Field raw{.base = Base::kTransport, .offset = 7, .len = 3};
  EXPECT_EQ(to_string(raw), "@th,7,3");
  Field ct_orig{.base = Base::kCt, .len = 4, .key = static_cast<uint8_t>(CtKey::kMark), .dir = CtDir::kOriginal,
                .host_order = true};
  EXPECT_EQ(to_string(ct_orig), "ct mark/4 original");
  Field mark_be = known_field(KnownField::kMetaMark);
  mark_be.host_order = false;
  EXPECT_EQ(to_string(mark_be), "meta mark/4 be");
}

TEST(Build, PrefixMasksTheAddress) {
  Match m = prefix(KF::kIp6Saddr, *ip6("2001:db8::ff"), 33);
  ASSERT_TRUE(m.mask);
  EXPECT_EQ(hex(*m.mask), "ffffffff800000000000000000000000");
  EXPECT_EQ(hex(m.value), "20010db8000000000000000000000000");
  EXPECT_FALSE(ip4("300.1.1.1"));
}

}  // namespace
}  // namespace nfbpf::ir
