// ct keys on real connections, against the kernel itself: in the receiver namespace of a veth
// pair a kernel nft table (which also makes conntrack run there) marks the connection at
// prerouting (`ct mark set 0x2a`) and counts each case at input and output priority 0; our BPF
// programs count the same cases at priority 10 of the same hooks, so both see the very same
// packets of one TCP connection (handshake, data both ways, close). Every BPF counter must equal
// the kernel's; the expected counts pin down that the cases are not trivially zero or all.
// The kernel table also assigns the ftp helper (`ct helper set`); `ct helper` reads the helper of
// the connection's master, which it does not have (a reading of its own helper counts every packet):
//   input:  the client's packets (original direction), output: the server's (reply direction).
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <regex>

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

constexpr uint16_t kPort = 5010;
constexpr uint32_t kMark = 0x2a;

ir::Field ct(ir::CtKey k, uint32_t len, ir::CtDir dir = ir::CtDir::kAny) {
  ir::Field f{.base = ir::Base::kCt, .len = len, .key = static_cast<uint8_t>(k), .dir = dir};
  f.host_order = ir::natively_host_order(f);
  return f;
}
// As nft translates an ordered compare of a host-order key: byteorder to network order, then a
// big-endian compare; the IR folds that into the field (host_order = false).
ir::Match ordered_be(ir::Field f, ir::Op op, uint64_t v) {
  f.host_order = false;
  ir::Bytes be(f.len);
  for (size_t i = 0; i < f.len; ++i) be[f.len - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
  return ir::Match{.key = {f}, .op = op, .value = std::move(be)};
}
ir::Bytes helper_name(const char* n) {  // NF_CT_HELPER_NAME_LEN bytes, NUL-padded
  ir::Bytes b(16, 0);
  for (size_t i = 0; n[i] && i < 15; ++i) b[i] = static_cast<uint8_t>(n[i]);
  return b;
}
ir::Match flag(ir::Field f, uint32_t bits) {  // (f & bits) != 0, as nft's `ct status assured`
  return ir::Match{.key = {f}, .mask = le(bits, 4), .op = ir::Op::kNe, .value = le(0, 4)};
}
ir::Bytes addr(const char* a) {
  in_addr x{};
  inet_pton(AF_INET, a, &x);
  const auto* p = reinterpret_cast<const uint8_t*>(&x);
  return ir::Bytes(p, p + 4);
}

// expected: kAll (every packet the hook counted), kSome, a count, or -1 (only "equal to the kernel").
constexpr int64_t kAll = -2;
constexpr int64_t kSome = -3;  // more than none and fewer than all (the exact split depends on TCP's timing)
struct Case {
  std::string nft;
  ir::Match match;
  int64_t expected;
};

ir::Table table_for(ir::Hook hook, const std::vector<Case>& cases) {
  ir::Table t{.family = ir::Family::kInet, .name = "c"};
  ir::Chain c{.name = hook == ir::Hook::kInput ? "in" : "out", .handle = 1,
              .base = ir::BaseHook{.hook = hook, .priority = 10}, .policy = ir::VerdictKind::kAccept};
  const KnownField port = hook == ir::Hook::kInput ? KnownField::kTcpDport : KnownField::kTcpSport;
  uint64_t h = 2;
  // First rule: every packet of the connection at this hook (the "all" reference).
  c.rules.push_back(ir::Rule{.handle = h++, .steps = {b::eq(KnownField::kMetaL4Proto, b::u8(6)), b::eq(port, b::be16(kPort)), ir::Counter{}}});
  for (const auto& cs : cases)
    c.rules.push_back(ir::Rule{.handle = h++,
                               .steps = {b::eq(KnownField::kMetaL4Proto, b::u8(6)), b::eq(port, b::be16(kPort)), cs.match, ir::Counter{}}});
  t.chains.push_back(c);
  return t;
}


// One TCP connection client (sender ns) -> server (receiver ns): handshake, 3 requests of 100
// bytes, one 300-byte answer, close from both sides. Returns false on any socket error.
bool tcp_exchange(const NetnsPair& ns) {
  Fd lst, cli, srv;
  auto mk = [](Fd& s) {
    s = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{.tv_sec = 2, .tv_usec = 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  };
  sockaddr_in sa{.sin_family = AF_INET, .sin_port = htons(kPort), .sin_addr = {}, .sin_zero = {}};
  inet_pton(AF_INET, NetnsPair::kReceiverAddr, &sa.sin_addr);
  bool ok = true;
  if (!ns.in_receiver([&] {
        mk(lst);
        int one = 1;
        ::setsockopt(lst.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ok = ok && ::bind(lst.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(lst.get(), 1) == 0;
      }))
    return false;
  if (!ns.in_sender([&] {
        mk(cli);
        ok = ok && ::connect(cli.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
      }))
    return false;
  if (!ok) return false;
  srv = Fd(::accept(lst.get(), nullptr, nullptr));
  if (!srv) return false;
  char buf[300] = {};
  for (int i = 0; i < 3; ++i) ok = ok && ::send(cli.get(), buf, 100, MSG_NOSIGNAL) == 100;
  size_t got = 0;
  while (ok && got < 300) {
    ssize_t n = ::recv(srv.get(), buf, sizeof buf, 0);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  ok = ok && ::send(srv.get(), buf, 300, MSG_NOSIGNAL) == 300;
  got = 0;
  while (ok && got < 300) {
    ssize_t n = ::recv(cli.get(), buf, sizeof buf, 0);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  ::shutdown(cli.get(), SHUT_WR);
  ok = ok && ::recv(srv.get(), buf, sizeof buf, 0) == 0;  // the client's FIN
  ::shutdown(srv.get(), SHUT_WR);
  ok = ok && ::recv(cli.get(), buf, sizeof buf, 0) == 0;
  usleep(50 * 1000);  // the last ACK
  return ok;
}

TEST(LiveCt, CtKeysOnARealConnectionCountAsTheKernelDoes) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  ASSERT_TRUE(rt->nfct_offset.has_value());
  auto ns = NetnsPair::create();
  ASSERT_TRUE(ns.has_value()) << ns.error().describe();

  const uint32_t assured = 1u << 2, seen_reply = 1u << 1;  // IPS_ASSURED, IPS_SEEN_REPLY
  std::vector<Case> in_cases = {
      {"ct direction original", cmp(ct(ir::CtKey::kDirection, 1), ir::Op::kEq, {0}), kAll},
      {"ct direction reply", cmp(ct(ir::CtKey::kDirection, 1), ir::Op::kEq, {1}), 0},
      {"ct state new", cmp(ct(ir::CtKey::kState, 4), ir::Op::kEq, le(8, 4)), 1},
      {fmt::format("ct mark {:#x}", kMark), cmp(ct(ir::CtKey::kMark, 4), ir::Op::kEq, le(kMark, 4)), kAll},
      {"ct mark 0", cmp(ct(ir::CtKey::kMark, 4), ir::Op::kEq, le(0, 4)), 0},
      {"ct status assured", flag(ct(ir::CtKey::kStatus, 4), assured), -1},
      {"ct status seen-reply", flag(ct(ir::CtKey::kStatus, 4), seen_reply), -1},
      {"ct l3proto ipv4", cmp(ct(ir::CtKey::kL3Proto, 1), ir::Op::kEq, {2}), kAll},
      {"ct protocol tcp", cmp(ct(ir::CtKey::kProtocol, 1), ir::Op::kEq, {6}), kAll},
      {"ct protocol udp", cmp(ct(ir::CtKey::kProtocol, 1), ir::Op::kEq, {17}), 0},
      {"ct original ip saddr 10.99.0.1", cmp(ct(ir::CtKey::kSrcIp, 4, ir::CtDir::kOriginal), ir::Op::kEq, addr(NetnsPair::kSenderAddr)), kAll},
      {"ct reply ip saddr 10.99.0.2", cmp(ct(ir::CtKey::kSrcIp, 4, ir::CtDir::kReply), ir::Op::kEq, addr(NetnsPair::kReceiverAddr)), kAll},
      {"ct reply ip daddr 10.99.0.2", cmp(ct(ir::CtKey::kDstIp, 4, ir::CtDir::kReply), ir::Op::kEq, addr(NetnsPair::kReceiverAddr)), 0},
      {"ct original ip6 saddr != ::", cmp(ct(ir::CtKey::kSrcIp6, 16, ir::CtDir::kOriginal), ir::Op::kNe, ir::Bytes(16, 0)), 0},
      {fmt::format("ct original proto-dst {}", kPort), cmp(ct(ir::CtKey::kProtoDst, 2, ir::CtDir::kOriginal), ir::Op::kEq, b::be16(kPort)), kAll},
      {fmt::format("ct reply proto-src {}", kPort), cmp(ct(ir::CtKey::kProtoSrc, 2, ir::CtDir::kReply), ir::Op::kEq, b::be16(kPort)), kAll},
      {fmt::format("ct original proto-src {}", kPort), cmp(ct(ir::CtKey::kProtoSrc, 2, ir::CtDir::kOriginal), ir::Op::kEq, b::be16(kPort)), 0},
      {"ct zone 0", cmp(ct(ir::CtKey::kZone, 2), ir::Op::kEq, le(0, 2)), kAll},
      {"ct original zone 0", cmp(ct(ir::CtKey::kZone, 2, ir::CtDir::kOriginal), ir::Op::kEq, le(0, 2)), kAll},
      {"ct expiration > 1s", cmp(ct(ir::CtKey::kExpiration, 4), ir::Op::kGt, le(1000, 4)), -1},  // not the closing packets
      {"ct expiration > 5d", cmp(ct(ir::CtKey::kExpiration, 4), ir::Op::kGt, le(5ull * 86400 * 1000, 4)), 0},
      // accounting: the kernel table's own `ct bytes` rules switch it on (nf_ct_set_acct)
      {"ct original packets > 1", cmp(ct(ir::CtKey::kPkts, 8, ir::CtDir::kOriginal), ir::Op::kGt, le(1, 8)), -1},
      {"ct packets > 3", cmp(ct(ir::CtKey::kPkts, 8), ir::Op::kGt, le(3, 8)), kSome},
      {"ct bytes > 200", cmp(ct(ir::CtKey::kBytes, 8), ir::Op::kGt, le(200, 8)), -1},
      {"ct reply bytes 0", cmp(ct(ir::CtKey::kBytes, 8, ir::CtDir::kReply), ir::Op::kEq, le(0, 8)), -1},
      {"ct avgpkt > 60", cmp(ct(ir::CtKey::kAvgPkt, 8), ir::Op::kGt, le(60, 8)), kSome},
      // the same keys in nft's own translation of ordered compares (network order)
      {"ct bytes > 100000", ordered_be(ct(ir::CtKey::kBytes, 8), ir::Op::kGt, 100000), 0},
      {"ct packets > 3", ordered_be(ct(ir::CtKey::kPkts, 8), ir::Op::kGt, 3), kSome},
      {"ct expiration > 5d", ordered_be(ct(ir::CtKey::kExpiration, 4), ir::Op::kGt, 5ull * 86400 * 1000), 0},
      {"ct expiration > 1s", ordered_be(ct(ir::CtKey::kExpiration, 4), ir::Op::kGt, 1000), -1},
      {"ct mark > 0x20", ordered_be(ct(ir::CtKey::kMark, 4), ir::Op::kGt, 0x20), kAll},
      {"ct zone < 1", ordered_be(ct(ir::CtKey::kZone, 2), ir::Op::kLt, 1), kAll},
      // the kernel table assigns the ftp helper at prerouting, yet `ct helper` reads the helper of
      // ct->master: this connection has none, so the key breaks (equal and not-equal alike)
      {"ct helper \"ftp\"", cmp(ct(ir::CtKey::kHelper, 16), ir::Op::kEq, helper_name("ftp")), 0},
      {"ct helper != \"ftp\"", cmp(ct(ir::CtKey::kHelper, 16), ir::Op::kNe, helper_name("ftp")), 0},
  };
  std::vector<Case> out_cases = {
      {"ct direction reply", cmp(ct(ir::CtKey::kDirection, 1), ir::Op::kEq, {1}), kAll},
      {"ct direction original", cmp(ct(ir::CtKey::kDirection, 1), ir::Op::kEq, {0}), 0},
      {"ct state established", cmp(ct(ir::CtKey::kState, 4), ir::Op::kEq, le(2, 4)), kAll},
      {fmt::format("ct mark {:#x}", kMark), cmp(ct(ir::CtKey::kMark, 4), ir::Op::kEq, le(kMark, 4)), kAll},
      {"ct status seen-reply", flag(ct(ir::CtKey::kStatus, 4), seen_reply), kAll},
      {"ct original ip daddr 10.99.0.2", cmp(ct(ir::CtKey::kDstIp, 4, ir::CtDir::kOriginal), ir::Op::kEq, addr(NetnsPair::kReceiverAddr)), kAll},
      {"ct reply ip daddr 10.99.0.1", cmp(ct(ir::CtKey::kDstIp, 4, ir::CtDir::kReply), ir::Op::kEq, addr(NetnsPair::kSenderAddr)), kAll},
      {"ct reply zone 0", cmp(ct(ir::CtKey::kZone, 2, ir::CtDir::kReply), ir::Op::kEq, le(0, 2)), kAll},
      {"ct reply packets > 1", cmp(ct(ir::CtKey::kPkts, 8, ir::CtDir::kReply), ir::Op::kGt, le(1, 8)), kSome},
      {"ct original avgpkt > 40", cmp(ct(ir::CtKey::kAvgPkt, 8, ir::CtDir::kOriginal), ir::Op::kGt, le(40, 8)), -1},
      {"ct bytes 0", cmp(ct(ir::CtKey::kBytes, 8), ir::Op::kEq, le(0, 8)), 0},
      {"ct helper \"ftp\"", cmp(ct(ir::CtKey::kHelper, 16), ir::Op::kEq, helper_name("ftp")), 0},
      {"ct helper != \"ftp\"", cmp(ct(ir::CtKey::kHelper, 16), ir::Op::kNe, helper_name("ftp")), 0},
  };

  // The kernel's twin table, at priority 0; it marks the connection at prerouting.
  std::string ruleset = fmt::format(
      "table inet k {{\n ct helper ftph {{ type \"ftp\" protocol tcp; }}\n"
      " chain pre {{ type filter hook prerouting priority -150; tcp dport {} ct mark set {:#x}\n"
      "  tcp dport {} ct helper set \"ftph\"\n }}\n"
      " chain in {{ type filter hook input priority 0;\n  tcp dport {} counter\n",
      kPort, kMark, kPort, kPort);
  for (const auto& c : in_cases) ruleset += fmt::format("  tcp dport {} {} counter\n", kPort, c.nft);
  ruleset += fmt::format(" }}\n chain out {{ type filter hook output priority 0;\n  tcp sport {} counter\n", kPort);
  for (const auto& c : out_cases) ruleset += fmt::format("  tcp sport {} {} counter\n", kPort, c.nft);
  ruleset += " }\n}\n";
  char path[] = "/tmp/nfbpf-live-ct-XXXXXX";
  int tmp = mkstemp(path);
  ASSERT_GE(tmp, 0);
  ASSERT_EQ(write(tmp, ruleset.data(), ruleset.size()), static_cast<ssize_t>(ruleset.size()));
  close(tmp);
  auto loaded = ns->run_in_receiver({"nft", "-f", path});
  unlink(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().describe() << "\n" << ruleset;

  std::vector<chain::LoadedChain> progs;
  std::vector<runtime::Dispatcher> ds;
  std::vector<std::vector<uint32_t>> slots;
  for (auto [hook, nf_hook, cases] : {std::tuple{ir::Hook::kInput, NF_INET_LOCAL_IN, &in_cases},
                                      std::tuple{ir::Hook::kOutput, NF_INET_LOCAL_OUT, &out_cases}}) {
    ir::Table t = table_for(hook, *cases);
    auto attached = attach_ipv4_chain(k, *rt, t, *ns, nf_hook);
    ASSERT_TRUE(attached.has_value()) << attached.error().describe();
    ASSERT_EQ(attached->rule_slots.size(), cases->size() + 1);
    slots.push_back(attached->rule_slots);
    ds.push_back(std::move(attached->dispatcher));
    progs.push_back(std::move(attached->prog));
  }

  ASSERT_TRUE(tcp_exchange(*ns));

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
  ASSERT_EQ(kin.size(), in_cases.size() + 1) << listing;
  ASSERT_EQ(kout.size(), out_cases.size() + 1) << listing;
  auto check = [&](const std::vector<Case>& cases, const std::vector<int64_t>& kernel, const std::vector<uint32_t>& s,
                   const char* where) {
    auto all = rt->counters.read(s[0]);
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(static_cast<int64_t>(all->packets), kernel[0]) << where << ": all packets (bpf vs kernel)";
    EXPECT_GE(kernel[0], 5) << where << ": the connection's packets";
    for (size_t i = 0; i < cases.size(); ++i) {
      auto ours = rt->counters.read(s[i + 1]);
      ASSERT_TRUE(ours.has_value());
      EXPECT_EQ(static_cast<int64_t>(ours->packets), kernel[i + 1]) << where << ": " << cases[i].nft << " (bpf vs kernel)";
      if (cases[i].expected == kAll) {
        EXPECT_EQ(kernel[i + 1], kernel[0]) << where << ": " << cases[i].nft << " (kernel)";
      } else if (cases[i].expected == kSome) {
        EXPECT_GT(kernel[i + 1], 0) << where << ": " << cases[i].nft << " (kernel)";
        EXPECT_LT(kernel[i + 1], kernel[0]) << where << ": " << cases[i].nft << " (kernel)";
      } else if (cases[i].expected >= 0) {
        EXPECT_EQ(kernel[i + 1], cases[i].expected) << where << ": " << cases[i].nft << " (kernel)";
      }
    }
  };
  check(in_cases, kin, slots[0], "input");
  check(out_cases, kout, slots[1], "output");
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
