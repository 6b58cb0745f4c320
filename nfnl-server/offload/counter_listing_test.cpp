#include "nfnl-server/offload/counter_listing.h"

#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <fmt/format.h>

namespace nfbpf::offload {
namespace {

std::vector<uint8_t> be64(uint64_t v) {
  std::vector<uint8_t> out(8);
  for (int i = 7; i >= 0; --i, v >>= 8) out[size_t(i)] = uint8_t(v);
  return out;
}

store::Expr counter_expr(uint64_t bytes, uint64_t packets) {
  return store::Expr{"counter", {store::ExprAttr{.type = NFTA_COUNTER_BYTES, .payload = be64(bytes)},
                                 store::ExprAttr{.type = NFTA_COUNTER_PACKETS, .payload = be64(packets)}}};
}

TEST(CounterListing, CommittedCounterExpressionsGetLiveValuesInOrder) {
  store::Ruleset rs;
  auto t = std::make_unique<store::Table>();
  t->family = NFPROTO_IPV4;
  t->name = "t";
  t->vis = {.cur = true, .next = true};
  auto c = std::make_unique<store::Chain>();
  c->name = "in";
  c->vis = {.cur = true, .next = true};
  store::Rule r{.handle = 4};
  r.vis = {.cur = true, .next = true};
  r.exprs = {counter_expr(0, 0), store::Expr{"payload", {}}, counter_expr(1, 1)};
  c->rules.push_back(r);
  store::Rule pending{.handle = 5};  // not committed yet: left alone
  pending.exprs = {counter_expr(9, 9)};
  c->rules.push_back(pending);
  t->chains.push_back(std::move(c));
  rs.tables.push_back(std::move(t));

  std::vector<std::string> asked;
  refresh_rule_counters(rs, [&](uint8_t fam, std::string_view tn, std::string_view cn, uint64_t h, size_t nth)
                                -> std::optional<codegen::abi::Counter> {
    asked.push_back(fmt::format("{} {} {} {} {}", fam, tn, cn, h, nth));
    if (nth == 1) return std::nullopt;
    return codegen::abi::Counter{.packets = 3, .bytes = 300};
  });
  EXPECT_EQ(asked, (std::vector<std::string>{"2 t in 4 0", "2 t in 4 1"}));
  const auto& exprs = rs.tables.front()->chains.front()->rules.front().exprs;
  EXPECT_EQ(exprs[0].find(NFTA_COUNTER_BYTES)->be64(), 300u);
  EXPECT_EQ(exprs[0].find(NFTA_COUNTER_PACKETS)->be64(), 3u);
  EXPECT_EQ(exprs[0].data[0].type, NFTA_COUNTER_BYTES);  // dump order kept
  EXPECT_EQ(exprs[2].find(NFTA_COUNTER_PACKETS)->be64(), 1u);  // nullopt: stored value kept
  EXPECT_EQ(rs.tables.front()->chains.front()->rules.back().exprs[0].find(NFTA_COUNTER_PACKETS)->be64(), 9u);
}

TEST(CounterListing, NamedCounterObjectsGetLiveValues) {
  store::Ruleset rs;
  auto t = std::make_unique<store::Table>();
  t->family = NFPROTO_INET;
  t->name = "t";
  t->vis = {.cur = true, .next = true};
  auto o = std::make_unique<store::Object>();
  o->name = "hits";
  o->type = NFT_OBJECT_COUNTER;
  o->vis = {.cur = true, .next = true};
  o->data = counter_expr(0, 0).data;
  t->objects.push_back(std::move(o));
  auto q = std::make_unique<store::Object>();  // a quota object is left alone
  q->name = "hits";
  q->type = NFT_OBJECT_QUOTA;
  q->vis = {.cur = true, .next = true};
  t->objects.push_back(std::move(q));
  rs.tables.push_back(std::move(t));
  int asked = 0;
  refresh_rule_counters(
      rs, [](uint8_t, std::string_view, std::string_view, uint64_t, size_t) { return std::nullopt; },
      [&](uint8_t fam, std::string_view tn, std::string_view name) -> std::optional<codegen::abi::Counter> {
        ++asked;
        EXPECT_EQ(fam, NFPROTO_INET);
        EXPECT_EQ(tn, "t");
        EXPECT_EQ(name, "hits");
        return codegen::abi::Counter{.packets = 7, .bytes = 700};
      });
  EXPECT_EQ(asked, 1);
  const auto& data = rs.tables.front()->objects.front()->data;
  EXPECT_EQ(data[0].type, NFTA_COUNTER_BYTES);
  EXPECT_EQ(data[0].be64(), 700u);
  EXPECT_EQ(data[1].be64(), 7u);
  EXPECT_TRUE(rs.tables.front()->objects.back()->data.empty());
}

// nft_quota_do_dump: CONSUMED capped at the quota, DEPLETED from there on (and cleared below it).
TEST(CounterListing, QuotaStateIsCappedAndFlaggedAsTheKernelDumpsIt) {
  std::vector<store::ExprAttr> q{{.type = NFTA_QUOTA_BYTES, .payload = be64(300)},
                                 {.type = NFTA_QUOTA_FLAGS, .payload = {0, 0, 0, NFT_QUOTA_F_INV}}};
  write_quota_state(q, 640);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[1].type, NFTA_QUOTA_CONSUMED);  // between BYTES and FLAGS, where the kernel puts it
  EXPECT_EQ(q[1].be64(), 300u);
  EXPECT_EQ(q[2].payload[3], NFT_QUOTA_F_INV | NFT_QUOTA_F_DEPLETED);
  write_quota_state(q, 299);
  EXPECT_EQ(q[1].be64(), 299u);
  EXPECT_EQ(q[2].payload[3], NFT_QUOTA_F_INV);
}

TEST(CounterListing, NamedQuotaObjectsGetLiveConsumedBytes) {
  store::Ruleset rs;
  auto t = std::make_unique<store::Table>();
  t->family = NFPROTO_IPV4;
  t->name = "t";
  t->vis = {.cur = true, .next = true};
  auto q = std::make_unique<store::Object>();
  q->name = "q";
  q->type = NFT_OBJECT_QUOTA;
  q->vis = {.cur = true, .next = true};
  q->data = {{.type = NFTA_QUOTA_BYTES, .payload = be64(1000)}};
  t->objects.push_back(std::move(q));
  rs.tables.push_back(std::move(t));
  refresh_rule_quotas(
      rs, [](uint8_t, std::string_view, std::string_view, uint64_t, size_t) { return std::nullopt; },
      [](uint8_t, std::string_view tn, std::string_view name) -> std::optional<uint64_t> {
        EXPECT_EQ(tn, "t");
        EXPECT_EQ(name, "q");
        return 256;
      });
  const auto& data = rs.tables.front()->objects.front()->data;
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[1].type, NFTA_QUOTA_CONSUMED);
  EXPECT_EQ(data[1].be64(), 256u);
}

}  // namespace
}  // namespace nfbpf::offload
