// The bridge seen from the protocol: a batch built exactly as nft builds it is committed through
// the real nf_tables protocol, and the commit hook's view of the proposed ruleset is lowered.
#include "nfnl-server/offload/store_to_ir.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter.h>

#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/test_client.h"
#include "translate/ir/printer.h"

namespace nfbpf::offload {
namespace {

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

// Lowers every proposed ruleset; the last result is kept for the test to inspect.
struct CapturingHook : nftables::CommitHook {
  explicit CapturingHook(std::optional<Result<ir::Ruleset>>* out) : out_(out) {}
  Result<void> prepare(const store::Ruleset& next) override {
    *out_ = ruleset_to_ir(next);
    if (!**out_) return std::unexpected((*out_)->error());
    return {};
  }
  void commit() override {}
  void abort() override {}
  std::optional<Result<ir::Ruleset>>* out_;
};

TEST(StoreToIr, CommittedTablesChainsAndRulesLowerToIr) {
  std::optional<Result<ir::Ruleset>> seen;
  auto proto = nftables::make_nftables_protocol(std::make_unique<CapturingHook>(&seen));
  nftables::testing::Batch b;
  b.table(NFPROTO_IPV4, "t")
      .base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, -10)
      .chain(NFPROTO_IPV4, "t", "sub")
      .rule_saddr_drop(NFPROTO_IPV4, "t", "sub", htonl(0x0a000001))
      .rule_jump(NFPROTO_IPV4, "t", "in", "sub");
  NoMulticast mc;
  nfnl::Peer peer{.portid = 100, .pid = 100, .comm = "nft", .cap_net_admin = true};
  auto bytes = b.done();
  auto replies = proto->handle(peer, bytes, mc);
  ASSERT_TRUE(seen.has_value());
  ASSERT_TRUE(*seen) << (*seen).error().describe();
  ASSERT_EQ((*seen)->tables.size(), 1u);
  EXPECT_EQ(ir::to_string((*seen)->tables[0]),
            "table ip t handle 1\n"
            "  chain in handle 1 hook input priority -10 type filter policy accept\n"
            "    rule 4: -> jump sub\n"
            "  chain sub handle 2\n"
            "    rule 3: ip saddr == 0a000001 -> drop\n");
}

}  // namespace
}  // namespace nfbpf::offload
