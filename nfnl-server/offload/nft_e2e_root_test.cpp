// End to end with the real nft binary: nfbpfd (offloading) runs inside a scratch receiver
// namespace, `nfbpf-run nft ...` programs it through the shim, and UDP from the sender namespace
// over veth shows the ruleset running as BPF while the kernel's own nf_tables stays empty.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <regex>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "codegen/kernel/testing/netns_pair.h"

namespace nfbpf::offload {
namespace {

using codegen::testing::NetnsPair;

constexpr const char* kOtherSender = "10.99.0.3";
constexpr uint16_t kPort = 5556;
constexpr int kPackets = 5;
constexpr size_t kPayload = 100;

struct Outcome {
  int status = -1;  // exit code, or -1 if killed / not run
  std::string output;  // stdout + stderr
};

// Runs argv in the calling thread's current namespace; output captured; at most 10 s.
Outcome run_captured(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  Outcome r;
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  for (;;) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.output.append(buf, size_t(n));
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.output.append(buf, size_t(n));
  ::close(pipefd[0]);
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

// IPv6 UDP sockets (netns_pair.h's helpers are IPv4 only).
Result<Fd> udp6_socket_bound(const char* addr, uint16_t port) {
  int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno("socket");
  Fd s(fd);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  ::inet_pton(AF_INET6, addr, &sa.sin6_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return fail_errno("bind");
  return s;
}

int udp6_send(const Fd& sock, const char* addr, uint16_t port, int count) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  ::inet_pton(AF_INET6, addr, &sa.sin6_addr);
  std::vector<char> buf(kPayload, 'x');
  int sent = 0;
  for (int i = 0; i < count; ++i)
    if (::sendto(sock.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) >= 0) ++sent;
  return sent;
}

class NftEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nfbpf-offload-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/nfbpfd.sock";
    auto ns = NetnsPair::create();
    ASSERT_TRUE(ns) << ns.error().describe();
    ns_.emplace(std::move(*ns));
    ASSERT_TRUE(ns_->run_in_sender({"ip", "addr", "add", std::string(kOtherSender) + "/24", "dev", "va"}));
    before_daemon();
    start_daemon();
    if (HasFatalFailure()) return;
    ::setenv("NFBPF_SOCKET", socket_.c_str(), 1);

    Result<Fd> rx = fail(EINVAL, "unset"), tx1 = fail(EINVAL, "unset"), tx3 = fail(EINVAL, "unset");
    ASSERT_TRUE(ns_->in_receiver([&] { rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
    ASSERT_TRUE(ns_->in_sender([&] {
      tx1 = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 0);
      tx3 = codegen::testing::udp_socket_bound(kOtherSender, 0);
    }));
    ASSERT_TRUE(rx && tx1 && tx3);
    rx_ = std::move(*rx);
    tx1_ = std::move(*tx1);
    tx3_ = std::move(*tx3);
  }

  // Runs before the first daemon starts (persistence tests mount their bpffs here).
  virtual void before_daemon() {}
  // Runs after the daemon stopped for good.
  virtual void after_daemon() {}
  // Arguments after --socket and the offload mode.
  virtual std::vector<std::string> daemon_args() const { return {}; }

  // The daemon is forked while this thread is in the receiver namespace, so it lives there (and
  // so do the netfilter links it creates). Returns once it listens.
  void start_daemon() {
    ::unlink(socket_.c_str());
    std::vector<std::string> argv{NFBPFD_OFFLOAD_PATH, "--socket", socket_, NFBPFD_OFFLOAD_ARG};
    for (auto& a : daemon_args()) argv.push_back(a);
    ASSERT_TRUE(ns_->in_receiver([&] {
      daemon_ = ::fork();
      if (daemon_ == 0) {
        int log = ::open((dir_ + "/nfbpfd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log >= 0) ::dup2(log, 2);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
      }
    }));
    ASSERT_GT(daemon_, 0);
    bool up = false;
    for (int i = 0; i < 500 && !up; ++i) {
      struct stat st;
      up = ::stat(socket_.c_str(), &st) == 0;
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(up) << "nfbpfd did not create " << socket_ << "\n" << daemon_log();
  }
  // Sends `sig` and waits for the daemon; its exit status (-1: killed by a signal).
  int stop_daemon(int sig) {
    if (daemon_ <= 0) return -1;
    ::kill(daemon_, sig);
    int status = 0;
    ::waitpid(daemon_, &status, 0);
    daemon_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  void TearDown() override {
    stop_daemon(SIGTERM);
    ::unlink((dir_ + "/ruleset.nft").c_str());
    ::unlink((dir_ + "/nfbpfd.log").c_str());
    after_daemon();
    ::unlink(socket_.c_str());
    ::unlink((socket_ + ".lock").c_str());
    ::rmdir(dir_.c_str());
  }

  std::string daemon_log() const {
    std::ifstream f(dir_ + "/nfbpfd.log");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  // nft under the shim, in the receiver namespace.
  Outcome nft(std::vector<std::string> args) {
    args.insert(args.begin(), {NFBPF_RUN_PATH, "nft"});
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured(args); }));
    return r;
  }
  Outcome nft_file(const std::string& ruleset) {
    std::ofstream(dir_ + "/ruleset.nft") << ruleset;
    return nft({"-f", dir_ + "/ruleset.nft"});
  }
  // The kernel's own ruleset in the receiver namespace (no shim).
  std::string kernel_ruleset() {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"nft", "list", "ruleset"}); }));
    return r.output;
  }

  int delivered(const Fd& tx) {
    codegen::testing::udp_drain(rx_, 0);
    auto sent = codegen::testing::udp_send(tx, NetnsPair::kReceiverAddr, kPort, kPackets, kPayload);
    EXPECT_TRUE(sent && *sent == kPackets);
    return codegen::testing::udp_drain(rx_, 200);
  }

  // `nfbpf status -j` parsed (null on failure).
  nlohmann::json status() {
    Outcome st = run_captured({NFBPF_CLI_PATH, "--socket", socket_, "status", "-j"});
    EXPECT_EQ(st.status, 0) << st.output;
    return nlohmann::json::parse(st.output, nullptr, false);
  }
  // The kernel id of the program running base chain `family table chain` (0: none).
  uint32_t program_id(const std::string& family, const std::string& table, const std::string& chain) {
    nlohmann::json j = status();
    if (j.is_discarded()) return 0;
    for (const auto& c : j["chains"])
      if (c["family"] == family && c["table"] == table && c["chain"] == chain) return c["program"]["id"].get<uint32_t>();
    return 0;
  }

  // Instructions of the program running base chain `family table chain` (0: none).
  uint64_t program_insns(const std::string& family, const std::string& table, const std::string& chain) {
    nlohmann::json j = status();
    if (j.is_discarded()) return 0;
    for (const auto& c : j["chains"])
      if (c["family"] == family && c["table"] == table && c["chain"] == chain) return c["program"]["insns"].get<uint64_t>();
    return 0;
  }

  std::string dir_, socket_;
  std::optional<NetnsPair> ns_;
  pid_t daemon_ = -1;
  Fd rx_, tx1_, tx3_;
};

constexpr const char* kRuleset = R"(table ip filter {
  chain input {
    type filter hook input priority filter; policy accept;
    ip saddr 10.99.0.1 counter drop
  }
}
)";

TEST_F(NftEndToEnd, RulesetLoadedWithNftDropsOnlyTheListedSource) {
  ASSERT_EQ(delivered(tx1_), kPackets);
  Outcome r = nft_file(kRuleset);
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);
  // The kernel's nf_tables never saw the ruleset: BPF did the filtering.
  EXPECT_EQ(kernel_ruleset(), "");
  Outcome flush = nft({"flush", "ruleset"});
  ASSERT_EQ(flush.status, 0) << flush.output;
  EXPECT_EQ(delivered(tx1_), kPackets);
}

TEST_F(NftEndToEnd, RefusedRuleFailsTheCommandAndKeepsFiltering) {
  ASSERT_EQ(nft_file(kRuleset).status, 0);
  Outcome r = nft({"add", "rule", "ip", "filter", "input", "ip", "saddr", kOtherSender, "reject"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("Operation not supported"), std::string::npos) << r.output;
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);
  // The refused rule is not listed.
  Outcome list = nft({"list", "ruleset"});
  EXPECT_EQ(list.output.find("reject"), std::string::npos) << list.output;
}

TEST_F(NftEndToEnd, JumpAndDeleteByHandle) {
  Outcome r = nft_file(R"(table inet t {
  chain blocked {
    ip saddr 10.99.0.1 drop
  }
  chain input {
    type filter hook input priority 0;
    meta l4proto udp jump blocked
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);
  Outcome list = nft({"-a", "list", "chain", "inet", "t", "input"});
  auto at = list.output.find("jump blocked # handle ");
  ASSERT_NE(at, std::string::npos) << list.output;
  std::string handle = list.output.substr(at + 22, list.output.find('\n', at) - at - 22);
  Outcome del = nft({"delete", "rule", "inet", "t", "input", "handle", handle});
  ASSERT_EQ(del.status, 0) << del.output;
  EXPECT_EQ(delivered(tx1_), kPackets);
}

TEST_F(NftEndToEnd, SetElementsAddedLaterAreMatched) {
  Outcome r = nft_file(R"(table ip t {
  set blocked {
    type ipv4_addr
    elements = { 10.99.0.1 }
  }
  chain input {
    type filter hook input priority 0;
    ip saddr @blocked drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);
  Outcome add = nft({"add", "element", "ip", "t", "blocked", "{", kOtherSender, "}"});
  ASSERT_EQ(add.status, 0) << add.output;
  EXPECT_EQ(delivered(tx3_), 0);
  Outcome del = nft({"delete", "element", "ip", "t", "blocked", "{", NetnsPair::kSenderAddr, "}"});
  ASSERT_EQ(del.status, 0) << del.output;
  EXPECT_EQ(delivered(tx1_), kPackets);
  EXPECT_EQ(delivered(tx3_), 0);
}

// `nft add/delete element` on sets a running program looks up (a hash set and an interval set)
// change the BPF maps in place: the verdicts follow, the program (kernel id) stays, nothing is
// compiled again.
TEST_F(NftEndToEnd, ElementsChangeInPlaceWithoutReloading) {
  Outcome r = nft_file(R"(table ip t {
  set blocked {
    type ipv4_addr
    elements = { 10.99.0.1 }
  }
  set nets {
    type ipv4_addr
    flags interval
    elements = { 192.168.0.0/16 }
  }
  chain input {
    type filter hook input priority 0;
    ip saddr @blocked drop
    ip saddr @nets drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  const uint32_t id = program_id("ip", "t", "input");
  ASSERT_NE(id, 0u);
  const int compiled = status()["compiled"].get<int>();
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);

  Outcome add = nft({"add", "element", "ip", "t", "blocked", "{", kOtherSender, "}"});
  ASSERT_EQ(add.status, 0) << add.output;
  EXPECT_EQ(delivered(tx3_), 0);
  Outcome del = nft({"delete", "element", "ip", "t", "blocked", "{", NetnsPair::kSenderAddr, ",", kOtherSender, "}"});
  ASSERT_EQ(del.status, 0) << del.output;
  EXPECT_EQ(delivered(tx1_), kPackets);
  EXPECT_EQ(delivered(tx3_), kPackets);
  // An interval holding 10.99.0.3 but not 10.99.0.1 (a /31 and a /32 in the LPM trie).
  add = nft({"add", "element", "ip", "t", "nets", "{", "10.99.0.2-10.99.0.4", "}"});
  ASSERT_EQ(add.status, 0) << add.output;
  EXPECT_EQ(delivered(tx3_), 0);
  EXPECT_EQ(delivered(tx1_), kPackets);
  del = nft({"delete", "element", "ip", "t", "nets", "{", "10.99.0.2-10.99.0.4", "}"});
  ASSERT_EQ(del.status, 0) << del.output;
  EXPECT_EQ(delivered(tx3_), kPackets);

  EXPECT_EQ(program_id("ip", "t", "input"), id);
  EXPECT_EQ(status()["compiled"].get<int>(), compiled);
}

// A catch-all element ('*') answers every miss (nft_set_catchall_lookup). Its value is baked
// into the program (codegen/matcher/set_lookup.cpp), so adding or deleting it at runtime
// recompiles the hook (a new program id) and the verdicts follow.
TEST_F(NftEndToEnd, CatchAllAddedAndDeletedAtRuntimeRecompiles) {
  Outcome r = nft_file(R"(table ip t {
  map verdicts {
    type ipv4_addr : verdict
    elements = { 10.99.0.1 : drop }
  }
  chain input {
    type filter hook input priority 0;
    ip saddr vmap @verdicts
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  const uint32_t id = program_id("ip", "t", "input");
  ASSERT_NE(id, 0u);
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);  // a miss: no catch-all yet

  Outcome add = nft({"add", "element", "ip", "t", "verdicts", "{", "*", ":", "drop", "}"});
  ASSERT_EQ(add.status, 0) << add.output << daemon_log();
  EXPECT_EQ(delivered(tx3_), 0);  // the miss now takes '*'
  EXPECT_EQ(delivered(tx1_), 0);
  const uint32_t with_star = program_id("ip", "t", "input");
  EXPECT_NE(with_star, id);

  Outcome del = nft({"delete", "element", "ip", "t", "verdicts", "{", "*", "}"});
  ASSERT_EQ(del.status, 0) << del.output << daemon_log();
  EXPECT_EQ(delivered(tx3_), kPackets);
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_NE(program_id("ip", "t", "input"), with_star);
}

// A concatenated interval set whose elements have several ranged parts has no map: the elements
// are baked into the program (SetMapKind::kScan), so adding or deleting one at runtime recompiles
// the hook (a new program id) and the verdicts follow.
TEST_F(NftEndToEnd, ConcatIntervalsWithTwoRangesFollowElementChanges) {
  Outcome r = nft_file(R"(table ip t {
  set pairs {
    type ipv4_addr . inet_service
    flags interval
    elements = { 10.99.0.1-10.99.0.2 . 5000-6000 }
  }
  chain input {
    type filter hook input priority 0;
    ip saddr . udp dport @pairs drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  const uint32_t id = program_id("ip", "t", "input");
  ASSERT_NE(id, 0u);
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);

  Outcome add = nft({"add", "element", "ip", "t", "pairs", "{", "10.99.0.3-10.99.0.4", ".", "5550-5560", "}"});
  ASSERT_EQ(add.status, 0) << add.output << daemon_log();
  EXPECT_EQ(delivered(tx3_), 0);
  EXPECT_EQ(delivered(tx1_), 0);
  const uint32_t added = program_id("ip", "t", "input");
  EXPECT_NE(added, id);

  Outcome del = nft({"delete", "element", "ip", "t", "pairs", "{", "10.99.0.1-10.99.0.2", ".", "5000-6000", "}"});
  ASSERT_EQ(del.status, 0) << del.output << daemon_log();
  EXPECT_EQ(delivered(tx1_), kPackets);
  EXPECT_EQ(delivered(tx3_), 0);
  EXPECT_NE(program_id("ip", "t", "input"), added);
}

// An element with a timeout stops matching when it runs out (the daemon deletes its map entry),
// without a reload; added again, it matches again.
TEST_F(NftEndToEnd, ElementTimeoutsExpireInTheMap) {
  Outcome r = nft_file(R"(table ip t {
  set blocked {
    type ipv4_addr
    flags timeout
  }
  chain input {
    type filter hook input priority 0;
    ip saddr @blocked drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  const uint32_t id = program_id("ip", "t", "input");
  for (int round = 0; round < 2; ++round) {
    Outcome add = nft({"add", "element", "ip", "t", "blocked", "{", kOtherSender, "timeout", "1s", "}"});
    ASSERT_EQ(add.status, 0) << add.output;
    const auto added = std::chrono::steady_clock::now();
    EXPECT_EQ(delivered(tx3_), 0) << "round " << round;
    EXPECT_EQ(delivered(tx1_), kPackets);
    std::this_thread::sleep_until(added + std::chrono::milliseconds(1300));
    EXPECT_EQ(delivered(tx3_), kPackets) << "round " << round;
    Outcome list = nft({"list", "set", "ip", "t", "blocked"});
    EXPECT_EQ(list.output.find(kOtherSender), std::string::npos) << list.output;
  }
  EXPECT_EQ(program_id("ip", "t", "input"), id);
}

TEST_F(NftEndToEnd, VerdictMapOnSourceAddress) {
  Outcome r = nft_file(R"(table inet t {
  chain drop_it {
    counter drop
  }
  chain input {
    type filter hook input priority 0;
    ip saddr vmap { 10.99.0.1 : jump drop_it, 10.99.0.3 : accept }
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);
}

TEST_F(NftEndToEnd, Ip6TableFiltersIpv6) {
  // IPv6 on the veth pair, with static neighbours (no NDP to wait for or to filter).
  ASSERT_TRUE(ns_->run_in_sender({"ip", "-6", "addr", "add", "fd00::1/64", "dev", "va", "nodad"}));
  ASSERT_TRUE(ns_->run_in_sender({"ip", "-6", "addr", "add", "fd00::3/64", "dev", "va", "nodad"}));
  ASSERT_TRUE(ns_->run_in_receiver({"ip", "-6", "addr", "add", "fd00::2/64", "dev", "vb", "nodad"}));
  ASSERT_TRUE(ns_->run_in_sender({"ip", "-6", "neigh", "replace", "fd00::2", "lladdr", "02:00:00:00:00:02", "dev", "va"}));
  Result<Fd> rx = fail(EINVAL, "unset"), tx1 = fail(EINVAL, "unset"), tx3 = fail(EINVAL, "unset");
  ASSERT_TRUE(ns_->in_receiver([&] { rx = udp6_socket_bound("fd00::2", kPort); }));
  ASSERT_TRUE(ns_->in_sender([&] {
    tx1 = udp6_socket_bound("fd00::1", 0);
    tx3 = udp6_socket_bound("fd00::3", 0);
  }));
  ASSERT_TRUE(rx && tx1 && tx3) << (rx ? "" : rx.error().describe());
  auto delivered6 = [&](const Fd& tx) {
    codegen::testing::udp_drain(*rx, 0);
    EXPECT_EQ(udp6_send(tx, "fd00::2", kPort, kPackets), kPackets);
    return codegen::testing::udp_drain(*rx, 200);
  };
  ASSERT_EQ(delivered6(*tx1), kPackets);
  Outcome r = nft_file(R"(table ip6 t {
  chain input {
    type filter hook input priority 0;
    ip6 saddr fd00::1 drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(delivered6(*tx1), 0);
  EXPECT_EQ(delivered6(*tx3), kPackets);
  EXPECT_EQ(delivered(tx1_), kPackets);  // IPv4 is not hooked by an ip6 table
}

// Needs the protocol to call CommitHook::before_dump before GET requests (docs/offload.md).
TEST_F(NftEndToEnd, ListingShowsCountsFromTheBpfCountersMap) {
  ASSERT_EQ(nft_file(kRuleset).status, 0);
  ASSERT_EQ(delivered(tx1_), 0);
  ASSERT_EQ(delivered(tx3_), kPackets);  // not counted: the match fails before the counter
  Outcome list = nft({"list", "ruleset"});
  ASSERT_EQ(list.status, 0) << list.output;
  const std::string want = "ip saddr 10.99.0.1 counter packets 5 bytes " + std::to_string(kPackets * (20 + 8 + kPayload)) + " drop";
  EXPECT_NE(list.output.find(want), std::string::npos) << list.output;
}

// Needs the protocol to call CommitHook::before_dump before GET requests (docs/offload.md).
TEST_F(NftEndToEnd, NamedCounterObjectListsCountsFromBpf) {
  Outcome r = nft_file(R"(table ip t {
  counter hits {
  }
  chain input {
    type filter hook input priority 0;
    ip saddr 10.99.0.1 counter name "hits" drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  ASSERT_EQ(delivered(tx1_), 0);
  Outcome list = nft({"list", "counter", "ip", "t", "hits"});
  ASSERT_EQ(list.status, 0) << list.output;
  const std::string want = "packets 5 bytes " + std::to_string(kPackets * (20 + 8 + kPayload));
  EXPECT_NE(list.output.find(want), std::string::npos) << list.output;
}

// Needs the proposed chain policy to be visible to the commit hook (docs/offload.md).
TEST_F(NftEndToEnd, PolicyDropWithAnException) {
  Outcome r = nft_file(R"(table ip t {
  chain input {
    type filter hook input priority 0; policy drop;
    ip saddr 10.99.0.3 accept
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);
  // Changing only the policy of the existing chain.
  Outcome p = nft({"chain", "ip", "t", "input", "{", "policy", "accept", ";", "}"});
  ASSERT_EQ(p.status, 0) << p.output;
  EXPECT_EQ(delivered(tx1_), kPackets);
}

// `nfbpf status` asks the daemon (its control socket) what runs where.
TEST_F(NftEndToEnd, StatusShowsEachBaseChainItsProgramAndWhereItIsAttached) {
  Outcome r = nft_file(std::string(kRuleset) + R"(table inet t {
  chain out {
    type filter hook output priority 10;
    meta l4proto tcp counter
  }
}
table netdev n {
  chain ing {
    type filter hook ingress device "vb" priority 0;
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  Outcome st = run_captured({NFBPF_CLI_PATH, "--socket", socket_, "status", "-j"});
  ASSERT_EQ(st.status, 0) << st.output;
  nlohmann::json j = nlohmann::json::parse(st.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << st.output;
  EXPECT_EQ(j["mode"], "strict");
  EXPECT_TRUE(j["last_refused"].is_null());
  ASSERT_EQ(j["chains"].size(), 3u) << st.output;
  auto chain = [&](const std::string& family, const std::string& name) -> nlohmann::json {
    for (const auto& c : j["chains"])
      if (c["family"] == family && c["chain"] == name) return c;
    ADD_FAILURE() << "no chain " << family << " " << name << " in " << st.output;
    return nlohmann::json::object();
  };
  nlohmann::json in = chain("ip", "input");
  EXPECT_EQ(in["table"], "filter");
  EXPECT_EQ(in["type"], "filter");
  EXPECT_EQ(in["hook"], "input");
  EXPECT_EQ(in["priority"], 0);
  EXPECT_GT(in["program"]["insns"].get<int>(), 0);
  EXPECT_GE(in["program"]["verified_insns"].get<int>(), 1);
  EXPECT_GT(in["program"]["load_ms"].get<double>(), 0.0);  // the verifier ran
  EXPECT_GT(in["program"]["compile_ms"].get<double>(), 0.0);
  // The id is the kernel's: the program can be opened by it and has the name the status gives.
  const uint32_t id = in["program"]["id"].get<uint32_t>();
  int fd = ::bpf_prog_get_fd_by_id(id);
  ASSERT_GE(fd, 0) << "program id " << id;
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(::bpf_prog_get_info_by_fd(fd, &info, &len), 0);
  ::close(fd);
  EXPECT_EQ(std::string(info.name), in["program"]["name"].get<std::string>());
  EXPECT_EQ(info.type, BPF_PROG_TYPE_NETFILTER);
  EXPECT_EQ(in["attached"], nlohmann::json::parse(R"([{"kind":"netfilter","pf":"ipv4","hook":"input","priority":0}])"));

  nlohmann::json out = chain("inet", "out");
  EXPECT_EQ(out["priority"], 10);
  EXPECT_EQ(out["attached"], nlohmann::json::parse(R"([{"kind":"netfilter","pf":"ipv4","hook":"output","priority":10},
                                                       {"kind":"netfilter","pf":"ipv6","hook":"output","priority":10}])"));
  nlohmann::json ing = chain("netdev", "ing");
  EXPECT_EQ(ing["hook"], "ingress");
  EXPECT_EQ(ing["devices"], nlohmann::json::parse(R"(["vb"])"));
  ASSERT_EQ(ing["attached"].size(), 1u);
  EXPECT_EQ(ing["attached"][0]["kind"], "tcx");
  EXPECT_EQ(ing["attached"][0]["direction"], "ingress");
  EXPECT_EQ(ing["attached"][0]["device"], "vb");
  EXPECT_GT(ing["attached"][0]["ifindex"].get<int>(), 0);

  // A refused batch: the previous programs keep running, the status says which chain and why.
  Outcome bad = nft({"add", "rule", "ip", "filter", "input", "ip", "saddr", kOtherSender, "reject"});
  ASSERT_NE(bad.status, 0);
  st = run_captured({NFBPF_CLI_PATH, "--socket", socket_, "status", "--json"});
  ASSERT_EQ(st.status, 0) << st.output;
  j = nlohmann::json::parse(st.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << st.output;
  EXPECT_EQ(j["last_refused"]["chain"], "ip filter input");
  EXPECT_NE(j["last_refused"]["error"].get<std::string>().find("reject"), std::string::npos) << st.output;
  in = chain("ip", "input");
  EXPECT_EQ(in["program"]["id"].get<uint32_t>(), id);  // still the old program
  EXPECT_EQ(in["refused"], j["last_refused"]["error"]);

  // The human form (socket from NFBPF_SOCKET, as nfbpf-run).
  Outcome text = run_captured({NFBPF_CLI_PATH, "status"});
  ASSERT_EQ(text.status, 0) << text.output;
  for (const std::string& want : std::vector<std::string>{"offload: strict", "ip filter input: type filter hook input priority 0\n",
        "  program id " + std::to_string(id) + " (" + in["program"]["name"].get<std::string>() + "): ",
        "verifier processed ", "; compiled in ", "  attached: netfilter ipv4 input priority 0\n",
        "  attached: netfilter ipv6 output priority 10\n", "netdev n ing: type filter hook ingress priority 0 devices vb\n",
        "  attached: tcx ingress vb (ifindex ", "  last batch refused: ", "last refused batch (chain ip filter input): "})
    EXPECT_NE(text.output.find(want), std::string::npos) << want << " not in\n" << text.output;
}

TEST_F(NftEndToEnd, StatusWithoutADaemonFails) {
  Outcome st = run_captured({NFBPF_CLI_PATH, "--socket", dir_ + "/nosuch.sock", "status"});
  EXPECT_NE(st.status, 0);
  EXPECT_NE(st.output.find("connecting to nfbpfd"), std::string::npos) << st.output;
}

// `nft reset counters` (NFT_MSG_GETOBJ_RESET) prints the values, then zeroes the BPF slot.
TEST_F(NftEndToEnd, ResetCountersZeroesTheBpfCounter) {
  Outcome r = nft_file(R"(table ip t {
  counter hits {
  }
  chain input {
    type filter hook input priority 0;
    ip saddr 10.99.0.1 counter name "hits" drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  const uint64_t per_packet = 20 + 8 + kPayload;
  ASSERT_EQ(delivered(tx1_), 0);
  const std::string five = "packets 5 bytes " + std::to_string(kPackets * per_packet);
  Outcome reset = nft({"reset", "counters"});
  ASSERT_EQ(reset.status, 0) << reset.output;
  EXPECT_NE(reset.output.find(five), std::string::npos) << reset.output;  // the values before the reset
  Outcome list = nft({"list", "counter", "ip", "t", "hits"});
  EXPECT_NE(list.output.find("packets 0 bytes 0"), std::string::npos) << list.output;
  // The slot counts on from zero.
  ASSERT_EQ(delivered(tx1_), 0);
  list = nft({"list", "counter", "ip", "t", "hits"});
  EXPECT_NE(list.output.find(five), std::string::npos) << list.output;
  // One named counter.
  reset = nft({"reset", "counter", "ip", "t", "hits"});
  ASSERT_EQ(reset.status, 0) << reset.output;
  EXPECT_NE(reset.output.find(five), std::string::npos) << reset.output;
  list = nft({"list", "counter", "ip", "t", "hits"});
  EXPECT_NE(list.output.find("packets 0 bytes 0"), std::string::npos) << list.output;
}

// `counter packets N bytes M` in a ruleset: the kernel's counter starts there and counts on.
TEST_F(NftEndToEnd, InitialCounterValuesAreSeeded) {
  Outcome r = nft_file(R"(table ip t {
  counter hits {
    packets 3 bytes 30
  }
  chain input {
    type filter hook input priority 0;
    ip saddr 10.99.0.1 counter packets 7 bytes 700 counter name "hits" drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  const uint64_t per_packet = 20 + 8 + kPayload;
  Outcome list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find("counter packets 7 bytes 700 "), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("packets 3 bytes 30\n"), std::string::npos) << list.output;
  ASSERT_EQ(delivered(tx1_), 0);
  list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find("counter packets " + std::to_string(7 + kPackets) + " bytes " +
                             std::to_string(700 + kPackets * per_packet) + " "),
            std::string::npos)
      << list.output;
  EXPECT_NE(list.output.find("packets " + std::to_string(3 + kPackets) + " bytes " +
                             std::to_string(30 + kPackets * per_packet) + "\n"),
            std::string::npos)
      << list.output;
  // A rule added later starts from its own values; the running ones are not re-seeded.
  Outcome add = nft({"add", "rule", "ip", "t", "input", "ip", "saddr", kOtherSender, "counter", "packets", "2", "bytes", "20"});
  ASSERT_EQ(add.status, 0) << add.output;
  ASSERT_EQ(delivered(tx3_), kPackets);
  list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find("counter packets " + std::to_string(7 + kPackets) + " bytes "), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("ip saddr " + std::string(kOtherSender) + " counter packets " + std::to_string(2 + kPackets) +
                             " bytes " + std::to_string(20 + kPackets * per_packet)),
            std::string::npos)
      << list.output;
}

// Base chain counters (NFTA_CHAIN_COUNTERS, which iptables-nft sends): the kernel counts the
// packets that reach the policy (nft_update_chain_stats), not those a rule decides; an update that
// carries counters (`iptables -Z`) replaces them. Expected values are the kernel's, checked with the
// same commands against `unshare -n iptables-nft` (policy ACCEPT 5+5 packets after the restore).
TEST_F(NftEndToEnd, BaseChainCountersCountThePolicyPackets) {
  const auto iptables = [&](const std::string& args) {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"sh", "-c", std::string(NFBPF_RUN_PATH) + " " + args}); }));
    return r;
  };
  const std::string restore =
      "*filter\\n:INPUT ACCEPT [5:100]\\n-A INPUT -s 10.99.0.1/32 -j DROP\\nCOMMIT\\n";
  Outcome r;
  ASSERT_TRUE(ns_->in_receiver([&] {
    r = run_captured({"sh", "-c", "printf '" + restore + "' | " + NFBPF_RUN_PATH + " iptables-nft-restore -c"});
  }));
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  const uint64_t per_packet = 20 + 8 + kPayload;
  const auto policy_line = [&] {
    Outcome l = iptables("iptables-nft -L INPUT -v -x -n");
    return l.output.substr(0, l.output.find('\n'));
  };
  EXPECT_EQ(policy_line(), "Chain INPUT (policy ACCEPT 5 packets, 100 bytes)");
  ASSERT_EQ(delivered(tx1_), 0);  // decided by the rule: not a policy packet
  ASSERT_EQ(delivered(tx3_), kPackets);
  EXPECT_EQ(policy_line(), fmt::format("Chain INPUT (policy ACCEPT {} packets, {} bytes)", 5 + kPackets,
                                       100 + kPackets * per_packet));
  ASSERT_EQ(iptables("iptables-nft -Z INPUT").status, 0);
  EXPECT_EQ(policy_line(), "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)");
  ASSERT_EQ(delivered(tx3_), kPackets);
  EXPECT_EQ(policy_line(), fmt::format("Chain INPUT (policy ACCEPT {} packets, {} bytes)", kPackets, kPackets * per_packet));
  // A recompiled program (a rule added) keeps counting in the same slot.
  ASSERT_EQ(iptables("iptables-nft -I INPUT -s 10.99.0.7/32 -j DROP").status, 0);
  ASSERT_EQ(delivered(tx3_), kPackets);
  EXPECT_EQ(policy_line(), fmt::format("Chain INPUT (policy ACCEPT {} packets, {} bytes)", 2 * kPackets,
                                       2 * kPackets * per_packet));
}

// `nft replace rule ... handle H` keeps the handle (so the slot keys), but the kernel's new rule
// starts from the values it carries: the old rule's counts and quota bytes must not carry over.
// Values checked with the same commands against `unshare -n nft`.
TEST_F(NftEndToEnd, AReplacedRuleStartsFromItsOwnCounterValues) {
  Outcome r = nft_file(R"(table ip t {
  chain input {
    type filter hook input priority 0;
    ip saddr 10.99.0.1 counter quota 1000 bytes accept
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  ASSERT_EQ(delivered(tx1_), kPackets);
  Outcome rep = nft({"replace", "rule", "ip", "t", "input", "handle", "2", "ip", "saddr", "10.99.0.1", "counter", "quota",
                     "1000", "bytes", "accept"});
  ASSERT_EQ(rep.status, 0) << rep.output << daemon_log();
  Outcome list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find("counter packets 0 bytes 0 quota 1000 bytes accept"), std::string::npos) << list.output;
  // Replaced again (the store must still find the handle), now with initial values.
  rep = nft({"replace", "rule", "ip", "t", "input", "handle", "2", "ip", "saddr", "10.99.0.1", "counter", "packets", "7",
             "bytes", "70", "drop"});
  ASSERT_EQ(rep.status, 0) << rep.output << daemon_log();
  ASSERT_EQ(delivered(tx1_), 0);
  list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find(fmt::format("counter packets {} bytes {} drop", 7 + kPackets, 70 + kPackets * (20 + 8 + kPayload))),
            std::string::npos)
      << list.output;
}

// A run of >= 64 rules testing one field with one verdict compiles to one lookup (merge_runs.h),
// but each rule keeps its own counter: the listing shows the packets on the rule that matched
// them, as the kernel does — through nft and through iptables-legacy (whose -L reads the same
// slots by entry).
std::string long_run(const std::string& per_rule, int before, int after) {
  std::string out;
  for (int i = 1; i <= before + after + 1; ++i)
    out += fmt::format(fmt::runtime(per_rule), i == before + 1 ? std::string(kOtherSender) : fmt::format("10.98.0.{}", i));
  return out;
}

TEST_F(NftEndToEnd, EachRuleOfAMergedRunCountsItsOwnPackets) {
  Outcome r = nft_file("table ip t {\n chain input {\n  type filter hook input priority 0;\n" +
                       long_run("  ip saddr {} counter drop\n", 40, 39) + " }\n}\n");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  ASSERT_EQ(delivered(tx3_), 0);
  ASSERT_EQ(delivered(tx1_), kPackets);
  Outcome list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find(fmt::format("ip saddr {} counter packets {} bytes {} drop", kOtherSender, kPackets,
                                         kPackets * (20 + 8 + kPayload))),
            std::string::npos)
      << list.output;
}

TEST_F(NftEndToEnd, EachEntryOfAMergedIptablesLegacyRunCountsItsOwnPackets) {
  const std::string rules = long_run("-A INPUT -s {}/32 -j DROP\\n", 40, 39);
  Outcome r;
  ASSERT_TRUE(ns_->in_receiver([&] {
    r = run_captured({"sh", "-c", "printf '*filter\\n" + rules + "COMMIT\\n' | " + NFBPF_RUN_PATH + " iptables-legacy-restore"});
  }));
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  ASSERT_EQ(delivered(tx3_), 0);
  ASSERT_TRUE(ns_->in_receiver([&] {
    r = run_captured({"sh", "-c", std::string(NFBPF_RUN_PATH) + " iptables-legacy-save -c"});
  }));
  EXPECT_NE(r.output.find(fmt::format("[{}:{}] -A INPUT -s {}/32 -j DROP", kPackets, kPackets * (20 + 8 + kPayload), kOtherSender)),
            std::string::npos)
      << r.output;
}

// A block of multi-field rules that translate/passes/classify turns into per-field lookups and
// rule bitmaps (200 `ip saddr A udp dport P counter` rules: the cost model picks it): each rule
// still lists its own packets, as in the kernel — the one that matched counts, the rule before
// it with the same source and another port stays at 0.
std::string classified_block(const std::string& per_rule) {
  std::string out;
  for (int i = 1; i <= 200; ++i) {
    std::string src = i == 120 || i == 121 ? std::string(kOtherSender) : fmt::format("10.98.{}.{}", i / 100, i % 100);
    int port = i == 121 ? kPort : i == 120 ? kPort + 1 : 1000 + i;
    out += fmt::format(fmt::runtime(per_rule), src, port, i % 3 ? "DROP" : "ACCEPT");
  }
  return out;
}

TEST_F(NftEndToEnd, EachRuleOfAClassifiedBlockCountsItsOwnPackets) {
  std::string rules = classified_block("  ip saddr {} udp dport {} counter {}\n");
  for (auto* v : {"DROP", "ACCEPT"}) {
    std::string lower = v == std::string("DROP") ? "drop" : "accept";
    for (size_t at = rules.find(v); at != std::string::npos; at = rules.find(v)) rules.replace(at, std::strlen(v), lower);
  }
  Outcome r = nft_file("table ip t {\n chain input {\n  type filter hook input priority 0;\n" + rules + " }\n}\n");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  ASSERT_EQ(delivered(tx3_), 0);  // rule 121: drop (121 % 3 != 0)
  ASSERT_EQ(delivered(tx1_), kPackets);
  const uint64_t insns = program_insns("ip", "t", "input");
  EXPECT_GT(insns, 0u);
  EXPECT_LT(insns, 1000u);  // classified (one block); as 200 linear counting rules it is several thousand
  Outcome list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find(fmt::format("ip saddr {} udp dport {} counter packets {} bytes {} drop", kOtherSender, kPort,
                                         kPackets, kPackets * (20 + 8 + kPayload))),
            std::string::npos)
      << list.output;
  EXPECT_NE(list.output.find(fmt::format("ip saddr {} udp dport {} counter packets 0 bytes 0 accept", kOtherSender, kPort + 1)),
            std::string::npos)
      << list.output;
}

// The same block through iptables-legacy: each `-p udp --dport` entry is lowered behind a
// synthetic rule (udp_mt's truncation hotdrop, a jump), so no run is classifiable and the block
// stays linear (34 000 instructions); the counters are per entry either way.
TEST_F(NftEndToEnd, EachEntryOfAnIptablesLegacyPairBlockCountsItsOwnPackets) {
  const std::string rules = classified_block("-A INPUT -s {}/32 -p udp --dport {} -j {}\\n");
  Outcome r;
  ASSERT_TRUE(ns_->in_receiver([&] {
    r = run_captured({"sh", "-c", "printf '*filter\\n" + rules + "COMMIT\\n' | " + NFBPF_RUN_PATH + " iptables-legacy-restore"});
  }));
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  ASSERT_EQ(delivered(tx3_), 0);
  ASSERT_TRUE(ns_->in_receiver([&] {
    r = run_captured({"sh", "-c", std::string(NFBPF_RUN_PATH) + " iptables-legacy-save -c"});
  }));
  EXPECT_NE(r.output.find(fmt::format("[{}:{}] -A INPUT -s {}/32 -p udp -m udp --dport {} -j DROP", kPackets,
                                      kPackets * (20 + 8 + kPayload), kOtherSender, kPort)),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(fmt::format("[0:0] -A INPUT -s {}/32 -p udp -m udp --dport {} -j ACCEPT", kOtherSender, kPort + 1)),
            std::string::npos)
      << r.output;
}

// iptables counts every rule, so big iptables-style rulesets need a counter slot per rule: 6 000
// counting rules that merge_runs cannot merge (alternating verdicts) load, and the one that
// matched counts (the shared counter map had 4 096 slots: such a ruleset was refused).
TEST_F(NftEndToEnd, ThousandsOfCountingRulesLoadAndCount) {
  const int kCountingRules = std::getenv("NFBPF_TEST_RULES") ? std::atoi(std::getenv("NFBPF_TEST_RULES")) : 6000;
  std::string rules;
  for (int i = 0; i < kCountingRules; ++i)
    rules += fmt::format("  ip saddr 10.{}.{}.{} counter {}\n", 100 + i / 65536, (i / 256) % 256, i % 256, i % 2 ? "accept" : "drop");
  rules += fmt::format("  ip saddr {} counter drop\n", kOtherSender);
  Outcome r = nft_file("table ip t {\n chain input {\n  type filter hook input priority 0;\n" + rules + " }\n}\n");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  ASSERT_EQ(delivered(tx3_), 0);
  Outcome list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find(fmt::format("ip saddr {} counter packets {} bytes {} drop", kOtherSender, kPackets,
                                         kPackets * (20 + 8 + kPayload))),
            std::string::npos);
}

// A rule's quota: `used` in listings is what BPF consumed. (An initial `used N bytes` is not
// tested: the store zeroes NFTA_QUOTA_CONSUMED on input, nftables/expr_codec.cpp fixup_quota,
// where the kernel keeps it.)
TEST_F(NftEndToEnd, QuotaUsedIsListedFromBpf) {
  Outcome r = nft_file(R"(table ip t {
  chain input {
    type filter hook input priority 0;
    ip saddr 10.99.0.1 quota over 300 bytes drop
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  const uint64_t per_packet = 20 + 8 + kPayload;
  Outcome list = nft({"list", "ruleset"});
  EXPECT_NE(list.output.find("quota over 300 bytes drop"), std::string::npos) << list.output;
  // 128 and 256 are within the quota; from the third packet on it is over.
  EXPECT_EQ(delivered(tx1_), 2);
  list = nft({"list", "ruleset"});
  // BPF consumed 5 × 128 bytes; the kernel's dump caps `used` at the quota (nft_quota_do_dump).
  (void)per_packet;
  EXPECT_NE(list.output.find("quota over 300 bytes used 300 bytes drop"), std::string::npos) << list.output;
}

// A named quota object: `used` listed from its BPF slot (capped as the kernel caps it), and
// `nft reset quota` zeroes it, after which the object counts again from zero. Expected values are
// the kernel's for the same commands (checked with `unshare -n nft`).
TEST_F(NftEndToEnd, NamedQuotaObjectListsAndResetsItsBpfBytes) {
  Outcome r = nft_file(R"(table ip t {
  quota q1 {
    over 300 bytes
  }
  quota q2 {
    until 1000 bytes
  }
  chain input {
    type filter hook input priority 0;
    ip saddr 10.99.0.1 quota name "q1" drop
    ip saddr 10.99.0.1 quota name "q2" counter
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(delivered(tx1_), 2);  // 128 and 256 bytes are within q1; then it is over and drops
  Outcome list = nft({"list", "quotas"});
  EXPECT_NE(list.output.find("over 300 bytes used 300 bytes"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("1000 bytes used 256 bytes"), std::string::npos) << list.output;
  Outcome reset = nft({"reset", "quota", "ip", "t", "q1"});
  ASSERT_EQ(reset.status, 0) << reset.output;
  EXPECT_NE(reset.output.find("over 300 bytes used 300 bytes"), std::string::npos) << reset.output;
  list = nft({"list", "quota", "ip", "t", "q1"});
  EXPECT_EQ(list.output.find("used"), std::string::npos) << list.output;  // zero: nft prints no `used`
  EXPECT_EQ(delivered(tx1_), 2);  // within the quota again for two packets
}

// ---- Persistence: --bpffs, --state-dir, --flush-on-exit ------------------------------------
//
// The test process moves into a private mount namespace once (before any thread exists) and
// mounts a bpffs per test under its scratch directory; the daemons it forks share it.
class NftPersistence : public NftEndToEnd {
 protected:
  void before_daemon() override {
    static const bool private_mounts = [] {
      return ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    }();
    ASSERT_TRUE(private_mounts) << std::strerror(errno);
    bpffs_ = dir_ + "/bpf";
    state_ = dir_ + "/state";
    ASSERT_EQ(::mkdir(bpffs_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(state_.c_str(), 0700), 0);
    ASSERT_EQ(::mount("bpf", bpffs_.c_str(), "bpf", 0, nullptr), 0) << std::strerror(errno);
  }
  std::vector<std::string> daemon_args() const override {
    std::vector<std::string> a{"--bpffs", bpffs_, "--state-dir", state_};
    if (flush_on_exit_) a.push_back("--flush-on-exit");
    return a;
  }
  void after_daemon() override {
    ::umount2(bpffs_.c_str(), MNT_DETACH);  // drops every pin: links detach
    ::rmdir(bpffs_.c_str());
    for (const char* f : {"/ruleset.bin", "/offload.json", "/ruleset.bin.tmp", "/offload.json.tmp"})
      ::unlink((state_ + f).c_str());
    ::rmdir(state_.c_str());
  }
  std::vector<std::string> pins() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(bpffs_))
      if (!e.path().filename().string().ends_with(".debug")) out.push_back(e.path().filename());  // bpffs' own
    return out;
  }
  // A link whose last reference went is released by a kernel work item: poll for a while.
  int delivered_eventually(const Fd& tx) {
    int n = 0;
    for (int i = 0; i < 20 && (n = delivered(tx)) != kPackets; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return n;
  }
  // `nft -a list ruleset` with counter values blanked (they move on with traffic).
  std::string listing() {
    Outcome l = nft({"-a", "list", "ruleset"});
    EXPECT_EQ(l.status, 0) << l.output;
    return std::regex_replace(l.output, std::regex("packets [0-9]+ bytes [0-9]+"), "packets N bytes M");
  }

  std::string bpffs_, state_;
  bool flush_on_exit_ = false;
};

// A ruleset with what replay must get right: two tables, handles with gaps (a deleted rule, a
// deleted chain), a rule inserted at the head, a named set with elements, an anonymous set, a
// verdict map jumping to a chain, a named counter, and two chains sharing one attach point.
constexpr const char* kPersistentRuleset = R"(table ip t {
  counter hits {
  }
  set blocked {
    type ipv4_addr
    elements = { 10.99.0.1 }
  }
  set many {
    type ipv4_addr
  }
  chain gone {
  }
  chain sub {
    counter drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @blocked counter drop
    udp dport { 1, 2, 3 } counter
    ip saddr vmap { 10.99.0.7 : jump sub }
    counter name hits
  }
}
table inet u {
  chain in2 {
    type filter hook input priority 0;
    meta l4proto udp counter
  }
}
)";

TEST_F(NftPersistence, ProgramsKeepFilteringAfterSigkillAndARestartAdoptsThem) {
  Outcome r = nft_file(kPersistentRuleset);
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  ASSERT_EQ(nft({"delete", "chain", "ip", "t", "gone"}).status, 0);
  // More elements than one saved NEWSETELEM record holds (the element list's length is 16 bits).
  std::string many = "{ ";
  for (int i = 0; i < 600; ++i) many += fmt::format("{}10.50.{}.{}", i ? ", " : "", i / 256, i % 256);
  ASSERT_EQ(nft({"add", "element", "ip", "t", "many", many + " }"}).status, 0);
  ASSERT_EQ(nft({"insert", "rule", "ip", "t", "input", "meta", "l4proto", "icmp", "accept"}).status, 0);
  ASSERT_EQ(nft({"add", "rule", "ip", "t", "input", "udp", "dport", "9", "drop"}).status, 0);
  Outcome h = nft({"-a", "list", "chain", "ip", "t", "input"});
  auto at = h.output.find("udp dport 9 drop # handle ");
  ASSERT_NE(at, std::string::npos) << h.output;
  ASSERT_EQ(nft({"delete", "rule", "ip", "t", "input", "handle", h.output.substr(at + 26, h.output.find('\n', at) - at - 26)}).status, 0);
  const std::string before = listing();
  const uint32_t id = program_id("ip", "t", "input");
  ASSERT_NE(id, 0u);
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);
  EXPECT_FALSE(pins().empty());

  ASSERT_EQ(stop_daemon(SIGKILL), -1);
  // Nobody home: the pinned links keep filtering.
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(delivered(tx3_), kPackets);

  start_daemon();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(listing(), before) << daemon_log();
  EXPECT_EQ(program_id("ip", "t", "input"), id) << daemon_log();
  nlohmann::json st = status();
  EXPECT_EQ(st["compiled"].get<int>(), 0) << st.dump();  // adopted, not compiled
  // Counters kept, including what was counted while no daemon ran: 2 rounds from 10.99.0.1.
  Outcome l = nft({"list", "chain", "ip", "t", "input"});
  EXPECT_NE(l.output.find("ip saddr @blocked counter packets " + std::to_string(2 * kPackets) + " "), std::string::npos)
      << l.output;
  EXPECT_EQ(delivered(tx1_), 0);
  // Elements still change in place in the adopted program's map.
  ASSERT_EQ(nft({"add", "element", "ip", "t", "blocked", "{", kOtherSender, "}"}).status, 0);
  EXPECT_EQ(delivered(tx3_), 0);
  EXPECT_EQ(program_id("ip", "t", "input"), id);
}

TEST_F(NftPersistence, SigtermLeavesFilteringAndFlushOnExitRemovesEverything) {
  ASSERT_EQ(nft_file(kRuleset).status, 0);
  ASSERT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(stop_daemon(SIGTERM), 0);
  EXPECT_EQ(delivered(tx1_), 0);  // still filtering

  flush_on_exit_ = true;
  start_daemon();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_NE(nft({"list", "ruleset"}).output.find("ip saddr 10.99.0.1 counter"), std::string::npos);
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(stop_daemon(SIGTERM), 0);
  EXPECT_EQ(delivered_eventually(tx1_), kPackets);  // detached
  EXPECT_EQ(pins(), std::vector<std::string>{});
  struct stat sb;
  EXPECT_NE(::stat((state_ + "/ruleset.bin").c_str(), &sb), 0);

  // A daemon started afterwards has nothing to restore.
  flush_on_exit_ = false;
  start_daemon();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(nft({"list", "ruleset"}).output, "");
  EXPECT_EQ(delivered(tx1_), kPackets);
}

// Pins that are gone (bpffs remounted): the saved ruleset is compiled and attached again.
TEST_F(NftPersistence, LostPinsMeanTheSavedRulesetIsCompiledAgain) {
  ASSERT_EQ(nft_file(kRuleset).status, 0);
  const std::string before = listing();
  ASSERT_EQ(stop_daemon(SIGKILL), -1);
  ::umount2(bpffs_.c_str(), MNT_DETACH);  // as if it had never been pinned
  ASSERT_EQ(::mount("bpf", bpffs_.c_str(), "bpf", 0, nullptr), 0);
  EXPECT_EQ(delivered_eventually(tx1_), kPackets);
  start_daemon();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(listing(), before) << daemon_log();
  EXPECT_EQ(delivered(tx1_), 0);
  EXPECT_EQ(status()["compiled"].get<int>(), 1);
}

}  // namespace
}  // namespace nfbpf::offload
