// Link-layer (@ll) loads at netfilter hooks, checked on real traffic against the kernel itself:
// test runs cannot present them (BPF_PROG_TEST_RUN's netfilter skb has no device and the
// probes of the verdict differential come from one fixed MAC, so they only ever miss). In the
// receiver namespace of a veth pair, a kernel nft table and our BPF programs sit at the input
// hook at different priorities, each rule counting, and see the very same packets; every BPF
// counter must equal the kernel's, and the expected counts pin down that the matches do match:
// the sender's MAC is 02:00:00:00:00:01, the receiver's 02:00:00:00:00:02 (NetnsPair).
// Loads ending past byte 12 take the nft_payload_copy_vlan branch's untagged side (the skb has no
// accelerated tag here), so ether type and the bytes after it are the frame's own.
#include <linux/netfilter.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>

#include <fmt/format.h>

#include "codegen/kernel/testing/netns_pair.h"
#include "codegen/runtime/dispatcher.h"
#include "codegen/runtime_tests/harness.h"
#include "codegen/runtime_tests/live_attach.h"
#include "codegen/runtime_tests/live_compare.h"
#include "translate/ir/build.h"
#include "translate/ir/fields.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using codegen::testing::NetnsPair;
using ir::KnownField;
namespace b = ir::build;

constexpr uint16_t kPort = 5002;
constexpr int kSent = 20;

ir::Field ll(uint32_t offset, uint32_t len) {
  return ir::Field{.base = ir::Base::kLink, .offset = offset, .len = len, .proto = ir::Proto::kEth};
}

struct Case {
  std::string nft;   // the kernel rule's match
  ir::Match match;   // ours
  int64_t expected;  // packets
};

TEST(LiveLinkLayer, EtherAddressesTypeAndBytesPastItMatchAsTheKernel) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  auto ns = NetnsPair::create();
  ASSERT_TRUE(ns.has_value()) << ns.error().describe();

  const ir::Bytes sender_mac{2, 0, 0, 0, 0, 1}, receiver_mac{2, 0, 0, 0, 0, 2}, other_mac{2, 0, 0, 0, 0, 9};
  ir::Bytes first16 = receiver_mac;
  first16.insert(first16.end(), sender_mac.begin(), sender_mac.end());
  first16.insert(first16.end(), {0x08, 0x00, 0x45, 0x00});  // ether type ip, then IPv4 version/IHL and TOS
  std::vector<Case> cases = {
      {"ether saddr 02:00:00:00:00:01", cmp(ll(6, 6), ir::Op::kEq, sender_mac), kSent},
      {"ether saddr 02:00:00:00:00:09", cmp(ll(6, 6), ir::Op::kEq, other_mac), 0},
      {"ether daddr 02:00:00:00:00:02", cmp(ll(0, 6), ir::Op::kEq, receiver_mac), kSent},
      {"ether daddr != 02:00:00:00:00:02", cmp(ll(0, 6), ir::Op::kNe, receiver_mac), 0},
      {"ether type ip", cmp(ll(12, 2), ir::Op::kEq, b::be16(0x0800)), kSent},
      {"ether type ip6", cmp(ll(12, 2), ir::Op::kEq, b::be16(0x86dd)), 0},
      {"@ll,48,64 0x020000000001 0800", cmp(ll(6, 8), ir::Op::kEq, {2, 0, 0, 0, 0, 1, 0x08, 0x00}), kSent},
      {"@ll,0,128 0x0200000000020200000000010800 4500", cmp(ll(0, 16), ir::Op::kEq, first16), kSent},
      {"@ll,112,8 0x45", cmp(ll(14, 1), ir::Op::kEq, {0x45}), kSent},
      {"@ll,112,8 0x46", cmp(ll(14, 1), ir::Op::kEq, {0x46}), 0},
  };
  // nft prints raw loads its own way; the kernel rule is written with the same bytes.
  cases[6].nft = "@ll,48,64 0x0200000000010800";
  cases[7].nft = "@ll,0,128 0x02000000000202000000000108004500";

  std::string ruleset = "table inet k {\n chain in { type filter hook input priority 0;\n";
  for (const auto& c : cases) ruleset += fmt::format("  udp dport {} {} counter\n", kPort, c.nft);
  ruleset += " }\n}\n";
  char path[] = "/tmp/nfbpf-live-ll-XXXXXX";
  int tmp = mkstemp(path);
  ASSERT_GE(tmp, 0);
  ASSERT_EQ(write(tmp, ruleset.data(), ruleset.size()), static_cast<ssize_t>(ruleset.size()));
  close(tmp);
  auto loaded = ns->run_in_receiver({"nft", "-f", path});
  unlink(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().describe() << "\n" << ruleset;

  // Ours, through a dispatcher at priority 10 of the same hook.
  ir::Table t{.family = ir::Family::kInet, .name = "m"};
  ir::Chain c{.name = "in", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kInput, .priority = 10}, .policy = ir::VerdictKind::kAccept};
  uint64_t h = 2;
  for (const auto& cs : cases)
    c.rules.push_back(ir::Rule{.handle = h++,
                               .steps = {b::eq(KnownField::kMetaL4Proto, b::u8(17)), b::eq(KnownField::kUdpDport, b::be16(kPort)),
                                         cs.match, ir::Counter{}},
                               .verdict = ir::Verdict{}});
  t.chains.push_back(c);
  auto attached = attach_ipv4_chain(k, *rt, t, *ns, NF_INET_LOCAL_IN);
  ASSERT_TRUE(attached.has_value()) << attached.error().describe();
  const std::vector<uint32_t>& slots = attached->rule_slots;
  ASSERT_EQ(slots.size(), cases.size());

  Result<Fd> rx = fail(EINVAL, "unset"), tx = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
  ASSERT_TRUE(ns->in_sender([&] { tx = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, kPort); }));
  ASSERT_TRUE(rx && tx);
  ASSERT_EQ(*codegen::testing::udp_send(*tx, NetnsPair::kReceiverAddr, kPort, kSent, 32), kSent);
  EXPECT_EQ(codegen::testing::udp_drain(*rx, 200), kSent);

  std::string listing;
  ASSERT_TRUE(ns->in_receiver([&] {
    FILE* f = popen("nft list table inet k", "r");
    if (!f) return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) listing.append(buf, n);
    pclose(f);
  }));
  auto kernel = kernel_counts(listing, "in");
  ASSERT_EQ(kernel.size(), cases.size()) << listing;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto ours = rt->counters.read(slots[i]);
    ASSERT_TRUE(ours.has_value());
    EXPECT_EQ(static_cast<int64_t>(ours->packets), kernel[i]) << cases[i].nft << " (bpf vs kernel)";
    EXPECT_EQ(kernel[i], cases[i].expected) << cases[i].nft << " (kernel)";
  }
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
