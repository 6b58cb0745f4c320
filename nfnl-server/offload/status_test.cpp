#include "nfnl-server/offload/status.h"

#include <linux/netfilter.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace nfbpf::offload {
namespace {

using codegen::flavor::Flavor;

OffloadStatus sample() {
  ChainStatus c{.family = "inet", .table = "t", .chain = "in", .type = "filter", .hook = "input", .priority = -5,
                .prog_name = "nfb_in", .prog_id = 42, .insns = 17, .verified_insns = 20, .compile_ms = 0.5,
                .load_ms = 1.25};
  c.attached = {AttachKey{.flavor = Flavor::kNetfilter, .pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_IN, .priority = -5},
                AttachKey{.flavor = Flavor::kNetfilter, .pf = NFPROTO_IPV6, .hooknum = NF_INET_LOCAL_IN, .priority = -5}};
  c.refused = "no";
  ChainStatus d{.family = "netdev", .table = "n", .chain = "e", .type = "filter", .hook = "egress", .devices = {"lo"},
                .prog_name = "nfb_e", .prog_id = 43, .insns = 5};
  d.attached = {AttachKey{.flavor = Flavor::kTcxEgress, .ifindex = 1}};
  return OffloadStatus{.mode = "strict", .chains = {c, d}, .last_refused = Refusal{"inet t in", "no"}, .compiled = 2, .reused = 1};
}

// A chain split into blocks (codegen/chain/blocks.h) reports the block count and the largest
// block's verifier work next to the sum; one-program chains carry neither.
TEST(Status, SplitChainsReportBlocks) {
  OffloadStatus st = sample();
  st.chains[0].blocks = 14;
  st.chains[0].verified_insns = 333866;
  st.chains[0].verified_insns_max = 25048;
  nlohmann::json j = to_json(st);
  EXPECT_EQ(j["chains"][0]["program"]["blocks"], 14);
  EXPECT_EQ(j["chains"][0]["program"]["verified_insns_max"], 25048);
  EXPECT_FALSE(j["chains"][1]["program"].contains("blocks"));
  std::string text = render_status_text(j);
  EXPECT_NE(text.find("verifier processed 333866 in 14 blocks chained by tail calls (at most 25048 in one)"),
            std::string::npos) << text;
}

TEST(Status, JsonCarriesEveryField) {
  nlohmann::json j = to_json(sample());
  EXPECT_EQ(j["mode"], "strict");
  EXPECT_EQ(j["compiled"], 2);
  EXPECT_EQ(j["reused"], 1);
  ASSERT_EQ(j["chains"].size(), 2u);
  const auto& c = j["chains"][0];
  EXPECT_EQ(c["priority"], -5);
  EXPECT_EQ(c["program"]["id"], 42);
  EXPECT_EQ(c["program"]["verified_insns"], 20);
  EXPECT_EQ(c["program"]["load_ms"], 1.25);
  EXPECT_EQ(c["attached"][1], nlohmann::json::parse(R"({"kind":"netfilter","pf":"ipv6","hook":"input","priority":-5})"));
  EXPECT_EQ(c["refused"], "no");
  const auto& d = j["chains"][1];
  EXPECT_TRUE(d["program"]["verified_insns"].is_null());
  EXPECT_FALSE(d.contains("refused"));
  EXPECT_EQ(d["attached"][0]["kind"], "tcx");
  EXPECT_EQ(d["attached"][0]["direction"], "egress");
  EXPECT_EQ(d["attached"][0]["device"], "lo");  // ifindex 1 in any namespace
  EXPECT_EQ(j["last_refused"]["chain"], "inet t in");
}

TEST(Status, TextNamesChainsProgramsAndAttachPoints) {
  const std::string text = render_status_text(to_json(sample()));
  EXPECT_EQ(text,
            "offload: strict (programs compiled 2, reused 1)\n"
            "inet t in: type filter hook input priority -5\n"
            "  program id 42 (nfb_in): 17 insns, verifier processed 20; compiled in 0.50 ms, loaded in 1.25 ms\n"
            "  attached: netfilter ipv4 input priority -5\n"
            "  attached: netfilter ipv6 input priority -5\n"
            "  last batch refused: no\n"
            "netdev n e: type filter hook egress priority 0 devices lo\n"
            "  program id 43 (nfb_e): 5 insns; compiled in 0.00 ms, loaded in 0.00 ms\n"
            "  attached: tcx egress lo (ifindex 1)\n"
            "last refused batch (chain inet t in): no\n");
}

TEST(Status, NoneModeHasNoChains) {
  const std::string text = render_status_text(to_json(OffloadStatus{.mode = "none"}));
  EXPECT_EQ(text, "offload: none (programs compiled 0, reused 0)\nno base chain is offloaded\n");
}

}  // namespace
}  // namespace nfbpf::offload
