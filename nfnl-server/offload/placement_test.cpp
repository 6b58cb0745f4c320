#include "nfnl-server/offload/placement.h"

#include <gtest/gtest.h>

namespace nfbpf::offload {
namespace {

ChainFacts base(std::string name, std::string type = "filter", std::vector<std::string> targets = {}) {
  return ChainFacts{.name = std::move(name), .base = true, .type = std::move(type), .targets = std::move(targets)};
}
ChainFacts regular(std::string name, std::vector<std::string> targets = {}, std::optional<std::string> refusal = {}) {
  return ChainFacts{.name = std::move(name), .targets = std::move(targets), .refusal = std::move(refusal)};
}

// "b" = BPF only, "k" = kernel only, "bk" = both, "" = nowhere.
std::string where(const TablePlacement& p, const std::string& chain) {
  const ChainPlacement* c = p.find(chain);
  if (!c) return "missing";
  return std::string(c->bpf ? "b" : "") + (c->kernel ? "k" : "");
}

TEST(Placement, FilterChainsThatTranslateRunAsBpf) {
  TableFacts t{.family = "ip", .name = "t", .chains = {base("input", "filter", {"a"}), regular("a", {"b"}), regular("b")}};
  const TablePlacement p = place_table(t);
  EXPECT_EQ(where(p, "input"), "b");
  EXPECT_EQ(where(p, "a"), "b");
  EXPECT_EQ(where(p, "b"), "b");
  EXPECT_FALSE(p.any_kernel());
}

TEST(Placement, NatChainsStayInTheKernelWithWhatTheyReach) {
  TableFacts t{.family = "ip", .name = "t", .chains = {base("pre", "nat", {"dnat_rules"}), regular("dnat_rules"), base("input")}};
  const TablePlacement p = place_table(t);
  EXPECT_EQ(where(p, "pre"), "k");
  EXPECT_EQ(where(p, "dnat_rules"), "k");
  EXPECT_EQ(where(p, "input"), "b");
  EXPECT_EQ(p.find("pre")->reason, "nat chains do not run as BPF");
  EXPECT_TRUE(p.find("input")->reason.empty());
}

TEST(Placement, AnUntranslatableRuleInAReachedChainKeepsTheWholeGroupInTheKernel) {
  TableFacts t{.family = "inet",
               .name = "fw",
               .chains = {base("input", "filter", {"a"}), regular("a", {"b"}),
                          regular("b", {}, "rule 9: reject is not supported"), base("output", "filter", {"c"}),
                          regular("c")}};
  const TablePlacement p = place_table(t);
  EXPECT_EQ(where(p, "input"), "k");
  EXPECT_EQ(where(p, "a"), "k");
  EXPECT_EQ(where(p, "b"), "k");
  EXPECT_EQ(where(p, "output"), "b");
  EXPECT_EQ(where(p, "c"), "b");
  EXPECT_EQ(p.find("input")->reason, "reaches chain b: rule 9: reject is not supported");
}

TEST(Placement, ARegularChainReachedFromBothSidesIsCopied) {
  TableFacts t{.family = "ip",
               .name = "t",
               .chains = {base("input", "filter", {"shared"}), base("post", "nat", {"shared"}), regular("shared")}};
  const TablePlacement p = place_table(t);
  EXPECT_EQ(where(p, "input"), "b");
  EXPECT_EQ(where(p, "post"), "k");
  EXPECT_EQ(where(p, "shared"), "bk");
}

TEST(Placement, UnreachedRegularChainsRunNowhereEvenIfUntranslatable) {
  TableFacts t{.family = "ip", .name = "t", .chains = {base("input"), regular("orphan", {}, "rule 3: queue")}};
  const TablePlacement p = place_table(t);
  EXPECT_EQ(where(p, "input"), "b");
  EXPECT_EQ(where(p, "orphan"), "");
}

TEST(Placement, CyclesAndSelfReferencesTerminate) {
  TableFacts t{.family = "ip", .name = "t", .chains = {base("input", "filter", {"a"}), regular("a", {"b", "a"}), regular("b", {"a"})}};
  const TablePlacement p = place_table(t);
  EXPECT_EQ(where(p, "a"), "b");
  EXPECT_EQ(where(p, "b"), "b");
}

TEST(Placement, FamiliesBpfCannotRunAndTableRefusalsGoToTheKernel) {
  TableFacts arp{.family = "arp", .name = "a", .bpf_family = false, .chains = {base("input")}};
  EXPECT_EQ(where(place_table(arp), "input"), "k");
  EXPECT_EQ(place_table(arp).find("input")->reason, "family arp does not run as BPF");
  TableFacts refused{.family = "ip", .name = "t", .refusal = "set s: key type not supported", .chains = {base("input")}};
  EXPECT_EQ(where(place_table(refused), "input"), "k");
  EXPECT_EQ(place_table(refused).find("input")->reason, "set s: key type not supported");
}

TEST(Placement, ForcedBaseChainsGoToTheKernel) {
  TableFacts t{.family = "ip", .name = "t", .chains = {base("input", "filter", {"a"}), regular("a"), base("output")}};
  const TablePlacement p = place_table(t, {{"input", "its program was refused"}});
  EXPECT_EQ(where(p, "input"), "k");
  EXPECT_EQ(where(p, "a"), "k");
  EXPECT_EQ(where(p, "output"), "b");
  EXPECT_EQ(p.find("input")->reason, "its program was refused");
}

TEST(Placement, RouteChainsRunAsBpf) {
  TableFacts t{.family = "ip", .name = "t", .chains = {base("out", "route")}};
  EXPECT_EQ(where(place_table(t), "out"), "b");
}

}  // namespace
}  // namespace nfbpf::offload
