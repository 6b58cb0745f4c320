#include "translate/ir/validate.h"

#include <gtest/gtest.h>

#include "translate/ir/build.h"

namespace nfbpf::ir {
namespace {

using namespace build;
using KF = KnownField;

Table two_chains() {
  Table t{.family = Family::kIp, .name = "t"};
  t.chains.push_back(Chain{.name = "in", .base = BaseHook{.hook = Hook::kInput}});
  t.chains.push_back(Chain{.name = "a"});
  t.chains.push_back(Chain{.name = "b"});
  return t;
}

TEST(Validate, AcceptsAWellFormedTable) {
  Table t = two_chains();
  t.chains[0].rules.push_back(Rule{.steps = {eq(KF::kIp4Saddr, *ip4("1.2.3.4"))}, .verdict = jump("a")});
  t.chains[1].rules.push_back(Rule{.verdict = go_to("b")});
  EXPECT_TRUE(validate(t)) << validate(t).error().describe();
}

TEST(Validate, RefusesJumpLoopsWithEloop) {
  Table t = two_chains();
  t.chains[1].rules.push_back(Rule{.verdict = jump("b")});
  t.chains[2].rules.push_back(Rule{.verdict = go_to("a")});
  auto r = validate(t);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, ELOOP);
}

TEST(Validate, RefusesLoopsThroughVerdictMaps) {
  Table t = two_chains();
  t.sets.push_back(Set{.name = "vm", .flags = kSetMap, .key_len = 4, .verdict_map = true,
                       .elements = {Element{.key = *ip4("1.1.1.1"), .verdict = jump("a")}}});
  t.chains[1].rules.push_back(Rule{.steps = {VerdictMap{{known_field(KF::kIp4Saddr)}, "vm"}}});
  auto r = validate(t);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, ELOOP);
}

TEST(Validate, RefusesUnknownTargetsSetsAndBadLengths) {
  Table t = two_chains();
  t.chains[0].rules.push_back(Rule{.verdict = jump("nope")});
  EXPECT_EQ(validate(t).error().err, ENOENT);

  t = two_chains();
  t.chains[0].rules.push_back(Rule{.steps = {in_set({known_field(KF::kIp4Saddr)}, "missing")}});
  EXPECT_EQ(validate(t).error().err, ENOENT);

  t = two_chains();
  t.chains[0].rules.push_back(Rule{.steps = {eq(KF::kIp4Saddr, be16(1))}});
  auto r = validate(t);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EINVAL);
  EXPECT_EQ(r.error().describe(), "chain in rule 0: value is 2 bytes, key is 4 (while table ip t) [EINVAL]");

  t = two_chains();
  t.chains[0].rules.push_back(Rule{.verdict = jump("in")});
  EXPECT_EQ(validate(t).error().err, EOPNOTSUPP);
}

TEST(Validate, ChecksHooksPerFamilyAndConcatKeyLayout) {
  Table t{.family = Family::kIp, .name = "t"};
  t.chains.push_back(Chain{.name = "c", .base = BaseHook{.hook = Hook::kIngress}});
  EXPECT_EQ(validate(t).error().err, EOPNOTSUPP);

  Table n{.family = Family::kInet, .name = "t"};
  // ip saddr . tcp dport: 4 + (2 padded to 4) = 8 bytes in register layout.
  n.sets.push_back(Set{.name = "s", .flags = kSetConcat, .key_parts = {4, 2}, .key_len = 8});
  n.chains.push_back(Chain{.name = "c"});
  n.chains[0].rules.push_back(
      Rule{.steps = {in_set({known_field(KF::kIp4Saddr), known_field(KF::kTcpDport)}, "s")}});
  EXPECT_TRUE(validate(n));
  n.sets[0].key_len = 6;
  EXPECT_EQ(validate(n).error().err, EINVAL);
}

}  // namespace
}  // namespace nfbpf::ir
