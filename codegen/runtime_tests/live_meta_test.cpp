// meta keys that test runs cannot present (the owning socket, device groups and types, the clock,
// the CPU), checked on real traffic against the kernel itself: in the receiver namespace of a
// veth pair, a kernel nft table and our BPF programs sit at the same hooks (input and output, at
// different priorities), each rule counting, and see the very same packets. Every BPF counter
// must equal the kernel's, and the expected absolute counts pin down that the rules are not
// all trivially zero:
//   input:  datagrams from the sender to vb (group 7, type ether)
//   output: datagrams sent by a socket created with fsuid 1234 / fsgid 4321
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>

#include <fmt/format.h>

#include "codegen/kernel/testing/netns_pair.h"
#include "codegen/matcher/meta.h"
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

constexpr uint16_t kInPort = 5000, kOutPort = 5001;
constexpr uint32_t kUid = 1234, kGid = 4321, kGroup = 7;

ir::Field meta(ir::MetaKey k, uint32_t len) {
  return ir::Field{.base = ir::Base::kMeta, .len = len, .key = static_cast<uint8_t>(k), .host_order = true};
}
ir::Field nexthop4() {
  return ir::Field{.base = ir::Base::kMeta, .len = 4, .key = static_cast<uint8_t>(ir::MetaKey::kRtNexthop4)};
}

// One counted rule per case (verdict continue), guarded by udp dport like its nft twin.
struct Case {
  std::string nft;   // the kernel rule's match
  ir::Match match;   // ours
  int64_t expected;  // packets; -1: only "equal to the kernel"
};

ir::Table table_for(ir::Hook hook, uint16_t port, const std::vector<Case>& cases) {
  ir::Table t{.family = ir::Family::kInet, .name = "m"};
  // One chain name per hook: counter slots are keyed by (table, chain, handle).
  ir::Chain c{.name = hook == ir::Hook::kInput ? "in" : "out", .handle = 1, .base = ir::BaseHook{.hook = hook, .priority = 10}, .policy = ir::VerdictKind::kAccept};
  uint64_t h = 2;
  for (const auto& cs : cases)
    c.rules.push_back(ir::Rule{.handle = h++,
                               .steps = {b::eq(KnownField::kMetaL4Proto, b::u8(17)), b::eq(KnownField::kUdpDport, b::be16(port)),
                                         cs.match, ir::Counter{}},
                               .verdict = ir::Verdict{}});
  t.chains.push_back(c);
  return t;
}


TEST(LiveMeta, SocketDeviceClockAndCpuKeysCountAsTheKernelDoes) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  auto ns = NetnsPair::create();
  ASSERT_TRUE(ns.has_value()) << ns.error().describe();
  ASSERT_TRUE(ns->run_in_receiver({"ip", "link", "set", "dev", "vb", "group", std::to_string(kGroup)}).has_value());

  const uint64_t now_s = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                   std::chrono::system_clock::now().time_since_epoch()).count());
  const uint64_t hour_ago = now_s - 3600, in_an_hour = now_s + 3600;
  auto clock = matcher::read_clock_offsets();
  ASSERT_TRUE(clock.has_value()) << clock.error().describe();
  const uint8_t today = static_cast<uint8_t>(((now_s - 60 * clock->minutes_west) / 86400 + 4) % 7);  // as the kernel, with sys_tz
  static const char* kDays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

  std::vector<Case> in_cases = {
      {"meta iifgroup 7", cmp(meta(ir::MetaKey::kIifGroup, 4), ir::Op::kEq, le(kGroup, 4)), 20},
      {"meta iifgroup 0", cmp(meta(ir::MetaKey::kIifGroup, 4), ir::Op::kEq, le(0, 4)), 0},
      {"meta iiftype ether", cmp(meta(ir::MetaKey::kIifType, 2), ir::Op::kEq, le(1, 2)), 20},
      {"meta oifgroup 0", cmp(meta(ir::MetaKey::kOifGroup, 4), ir::Op::kEq, le(0, 4)), 0},  // no output device: breaks
      {"meta oiftype ether", cmp(meta(ir::MetaKey::kOifType, 2), ir::Op::kEq, le(1, 2)), 0},
      {"meta skuid 0", cmp(meta(ir::MetaKey::kSkUid, 4), ir::Op::kEq, le(0, 4)), -1},
      {"meta cpu != 4096", cmp(meta(ir::MetaKey::kCpu, 4), ir::Op::kNe, le(4096, 4)), 20},
      {"meta cpu 0", cmp(meta(ir::MetaKey::kCpu, 4), ir::Op::kEq, le(0, 4)), -1},
      {"rt classid 0", cmp(meta(ir::MetaKey::kRtClassid, 4), ir::Op::kEq, le(0, 4)), 20},
      {"meta rtclassid 0", cmp(meta(ir::MetaKey::kRtClassid, 4), ir::Op::kEq, le(0, 4)), 20},
      {"rt ipsec missing", cmp(meta(ir::MetaKey::kRtIpsec, 1), ir::Op::kEq, {0}), 20},
      {"meta nfproto ipv4 rt ip nexthop 10.99.0.2", cmp(nexthop4(), ir::Op::kEq, {10, 99, 0, 2}), 20},  // local route: daddr
  };
  std::vector<Case> out_cases = {
      {"meta skuid 1234", cmp(meta(ir::MetaKey::kSkUid, 4), ir::Op::kEq, le(kUid, 4)), 15},
      {"meta skuid 0", cmp(meta(ir::MetaKey::kSkUid, 4), ir::Op::kEq, le(0, 4)), 0},
      {"meta skgid 4321", cmp(meta(ir::MetaKey::kSkGid, 4), ir::Op::kEq, le(kGid, 4)), 15},
      {"meta skuid != 1234", cmp(meta(ir::MetaKey::kSkUid, 4), ir::Op::kNe, le(kUid, 4)), 0},
      {"meta cgroup 0", cmp(meta(ir::MetaKey::kCgroup, 4), ir::Op::kEq, le(0, 4)), -1},
      {"meta oifgroup 7", cmp(meta(ir::MetaKey::kOifGroup, 4), ir::Op::kEq, le(kGroup, 4)), 15},
      {"meta oiftype ether", cmp(meta(ir::MetaKey::kOifType, 2), ir::Op::kEq, le(1, 2)), 15},
      {"meta iifgroup 0", cmp(meta(ir::MetaKey::kIifGroup, 4), ir::Op::kEq, le(0, 4)), 0},  // no input device
      {"meta iiftype ether", cmp(meta(ir::MetaKey::kIifType, 2), ir::Op::kEq, le(1, 2)), -1},  // skb->dev at output
      {fmt::format("meta time > {}", hour_ago), cmp(meta(ir::MetaKey::kTime, 8), ir::Op::kGt, le(hour_ago * 1000000000ull, 8)), 15},
      {fmt::format("meta time < {}", in_an_hour), cmp(meta(ir::MetaKey::kTime, 8), ir::Op::kLt, le(in_an_hour * 1000000000ull, 8)), 15},
      {fmt::format("meta time < {}", hour_ago), cmp(meta(ir::MetaKey::kTime, 8), ir::Op::kLt, le(hour_ago * 1000000000ull, 8)), 0},
      {fmt::format("meta day \"{}\"", kDays[today]), cmp(meta(ir::MetaKey::kDay, 1), ir::Op::kEq, {today}), 15},
      {fmt::format("meta day \"{}\"", kDays[(today + 1) % 7]), cmp(meta(ir::MetaKey::kDay, 1), ir::Op::kEq, {static_cast<uint8_t>((today + 1) % 7)}), 0},
      {"rt classid 0", cmp(meta(ir::MetaKey::kRtClassid, 4), ir::Op::kEq, le(0, 4)), 15},
      {"rt ipsec exists", cmp(meta(ir::MetaKey::kRtIpsec, 1), ir::Op::kEq, {1}), 0},
      {"meta nfproto ipv4 rt ip nexthop 10.99.0.1", cmp(nexthop4(), ir::Op::kEq, {10, 99, 0, 1}), 15},  // on-link: daddr
      {"meta nfproto ipv4 rt ip nexthop 10.99.0.9", cmp(nexthop4(), ir::Op::kEq, {10, 99, 0, 9}), 0},
  };
  // nft converts host-order keys to network order for ordered compares; the IR keeps host
  // order for the direct cases above, which codegen compares numerically.

  // The kernel's twin table, at priority 0 of the same hooks.
  std::string ruleset = "table inet k {\n chain in { type filter hook input priority 0;\n";
  for (const auto& c : in_cases) ruleset += fmt::format("  udp dport {} {} counter\n", kInPort, c.nft);
  ruleset += " }\n chain out { type filter hook output priority 0;\n";
  for (const auto& c : out_cases) ruleset += fmt::format("  udp dport {} {} counter\n", kOutPort, c.nft);
  ruleset += " }\n}\n";
  char path[] = "/tmp/nfbpf-live-meta-XXXXXX";
  int tmp = mkstemp(path);
  ASSERT_GE(tmp, 0);
  ASSERT_EQ(write(tmp, ruleset.data(), ruleset.size()), static_cast<ssize_t>(ruleset.size()));
  close(tmp);
  auto loaded = ns->run_in_receiver({"nft", "-f", path});
  unlink(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().describe() << "\n" << ruleset;

  // Ours, through dispatchers at priority 10.
  std::vector<std::pair<ir::Table, std::shared_ptr<chain::LoadedChain>>> progs;
  std::vector<runtime::Dispatcher> ds;
  std::vector<std::vector<uint32_t>> slots;
  for (auto [hook, nf_hook, port, cases] : {std::tuple{ir::Hook::kInput, NF_INET_LOCAL_IN, kInPort, &in_cases},
                                            std::tuple{ir::Hook::kOutput, NF_INET_LOCAL_OUT, kOutPort, &out_cases}}) {
    ir::Table t = table_for(hook, port, *cases);
    auto attached = attach_ipv4_chain(k, *rt, t, *ns, nf_hook);
    ASSERT_TRUE(attached.has_value()) << attached.error().describe();
    ASSERT_EQ(attached->rule_slots.size(), cases->size());
    slots.push_back(attached->rule_slots);
    ds.push_back(std::move(attached->dispatcher));
    progs.emplace_back(std::move(t), std::make_shared<chain::LoadedChain>(std::move(attached->prog)));
  }

  // Traffic: 20 datagrams in; 15 out from a socket created with fsuid/fsgid 1234/4321.
  Result<Fd> rx = fail(EINVAL, "unset"), tx = fail(EINVAL, "unset"), owned = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] {
    rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kInPort);
    setfsgid(kGid);
    setfsuid(kUid);
    owned = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, 0);
    setfsuid(0);
    setfsgid(0);
  }));
  ASSERT_TRUE(ns->in_sender([&] { tx = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, kOutPort); }));
  ASSERT_TRUE(rx && tx && owned);
  ASSERT_EQ(*codegen::testing::udp_send(*tx, NetnsPair::kReceiverAddr, kInPort, 20, 32), 20);
  EXPECT_EQ(codegen::testing::udp_drain(*rx, 200), 20);
  ASSERT_EQ(*codegen::testing::udp_send(*owned, NetnsPair::kSenderAddr, kOutPort, 15, 32), 15);
  EXPECT_EQ(codegen::testing::udp_drain(*tx, 200), 15);

  std::string listing;
  ASSERT_TRUE(ns->in_receiver([&] {
    FILE* f = popen("nft list table inet k", "r");
    if (!f) return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) listing.append(buf, n);
    pclose(f);
  }));
  auto kin = kernel_counts(listing, "in"), kout = kernel_counts(listing, "out");
  ASSERT_EQ(kin.size(), in_cases.size()) << listing;
  ASSERT_EQ(kout.size(), out_cases.size()) << listing;
  auto check = [&](const std::vector<Case>& cases, const std::vector<int64_t>& kernel, const std::vector<uint32_t>& s,
                   const char* where) {
    for (size_t i = 0; i < cases.size(); ++i) {
      auto ours = rt->counters.read(s[i]);
      ASSERT_TRUE(ours.has_value());
      EXPECT_EQ(static_cast<int64_t>(ours->packets), kernel[i]) << where << ": " << cases[i].nft << " (bpf vs kernel)";
      if (cases[i].expected >= 0) {
        EXPECT_EQ(kernel[i], cases[i].expected) << where << ": " << cases[i].nft << " (kernel)";
      }
    }
  };
  check(in_cases, kin, slots[0], "input");
  check(out_cases, kout, slots[1], "output");
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
