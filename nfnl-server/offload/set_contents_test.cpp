#include "nfnl-server/offload/set_contents.h"

#include <gtest/gtest.h>

namespace nfbpf::offload {
namespace {

ir::Bytes v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

ir::Table table_with(ir::Set s) {
  ir::Table t{.family = ir::Family::kIp, .name = "t"};
  t.sets.push_back(std::move(s));
  return t;
}

TEST(SetContents, HashSetEntriesCarryTheirElementsDeadline) {
  ir::Set s{.name = "blocked", .key_parts = {4}, .key_len = 4};
  s.elements.push_back({.key = v4(10, 0, 0, 1)});
  s.elements.push_back({.key = v4(10, 0, 0, 2), .timeout_ms = 1000});
  ir::Table t = table_with(s);
  ElementDeadlines d{{{ir::Family::kIp, "t", "blocked", v4(10, 0, 0, 2)}, 5000}};
  auto c = set_contents(t, t.sets[0], d, 64);
  ASSERT_TRUE(c) << c.error().describe();
  ASSERT_EQ(c->entries.size(), 2u);
  EXPECT_FALSE(c->entries.at(v4(10, 0, 0, 1)).expires_at_ms.has_value());
  EXPECT_EQ(c->entries.at(v4(10, 0, 0, 2)).expires_at_ms, std::optional<uint64_t>(5000));
  // A deadline of another family's table of the same name does not apply.
  ElementDeadlines other{{{ir::Family::kIp6, "t", "blocked", v4(10, 0, 0, 2)}, 5000}};
  c = set_contents(t, t.sets[0], other, 64);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->entries.at(v4(10, 0, 0, 2)).expires_at_ms.has_value());
  // More entries than the map holds: E2BIG (the caller rebuilds the map).
  auto small = set_contents(t, t.sets[0], d, 1);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().err, E2BIG);
}

TEST(SetContents, IntervalBecomesPrefixesAndDiffsPerPrefix) {
  ir::Set s{.name = "nets", .flags = ir::kSetInterval, .key_parts = {4}, .key_len = 4};
  s.elements.push_back({.key = v4(10, 0, 0, 0), .key_end = v4(10, 0, 0, 255)});  // one /24
  ir::Table t = table_with(s);
  auto before = set_contents(t, t.sets[0], {}, 64);
  ASSERT_TRUE(before) << before.error().describe();
  EXPECT_EQ(before->entries.size(), 1u);
  // 10.0.1.0 - 10.0.1.2: /31 + /32.
  t.sets[0].elements.push_back({.key = v4(10, 0, 1, 0), .key_end = v4(10, 0, 1, 2)});
  auto after = set_contents(t, t.sets[0], {}, 64);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->entries.size(), 3u);
  SetDiff d = diff_sets(*before, *after, 0);
  EXPECT_EQ(d.put.size(), 2u);
  EXPECT_TRUE(d.remove.empty());
  d = diff_sets(*after, *before, 0);
  EXPECT_TRUE(d.put.empty());
  EXPECT_EQ(d.remove.size(), 2u);
  EXPECT_TRUE(diff_sets(*after, *after, 0).empty());
}

// An entry whose deadline passed was (or is being) deleted by ElementExpiry: when the element is
// added again it must be written again even though the value is the same.
TEST(SetContents, ExpiredEntriesCountAsGone) {
  SetContents from{.max_entries = 64}, to{.max_entries = 64};
  from.entries[v4(1, 2, 3, 4)] = SetEntry{{1, 0, 0, 0}, 100};
  to.entries[v4(1, 2, 3, 4)] = SetEntry{{1, 0, 0, 0}, 900};
  EXPECT_TRUE(diff_sets(from, to, 50).empty());
  SetDiff d = diff_sets(from, to, 100);
  ASSERT_EQ(d.put.size(), 1u);
  EXPECT_EQ(d.put[0].first, v4(1, 2, 3, 4));
}

}  // namespace
}  // namespace nfbpf::offload
