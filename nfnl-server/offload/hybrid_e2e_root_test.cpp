// nfbpfd --offload=hybrid end to end with the real nft: nfbpfd runs in a scratch receiver
// namespace, `nfbpf-run nft` programs it, and traffic from the sender namespace over veth shows
// each part running where the placement put it: a filter chain as BPF (the kernel's nf_tables never
// holds it), a reject chain and a nat chain in the kernel's own nf_tables (the RST arrives, the
// DNAT'd datagrams reach the redirected port), one listing with the counters of both sides.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "codegen/kernel/testing/netns_pair.h"
#include "nfnl-server/offload/kernel_nft_client.h"

namespace nfbpf::offload {
namespace {

using codegen::testing::NetnsPair;

constexpr const char* kOtherSender = "10.99.0.3";
constexpr uint16_t kPort = 5556;       // the receiver's UDP socket
constexpr uint16_t kNatPort = 6000;    // DNAT'd to kPort by the kernel nat chain
constexpr uint16_t kRejectPort = 7777; // TCP: a listener is there, the kernel chain rejects with RST
constexpr int kPackets = 5;

struct Outcome {
  int status = -1;
  std::string output;
};

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
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.output.append(buf, size_t(n));  // child exits in < 10 s
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

// connect() from the current namespace: 0 on success, else the errno (ETIMEDOUT after 2 s).
int tcp_connect(const char* from, const char* to, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno;
  Fd s(fd);
  sockaddr_in local{.sin_family = AF_INET};
  ::inet_pton(AF_INET, from, &local.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return errno;
  sockaddr_in sa{.sin_family = AF_INET, .sin_port = htons(port)};
  ::inet_pton(AF_INET, to, &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd p{.fd = fd, .events = POLLOUT};
  if (::poll(&p, 1, 2000) != 1) return ETIMEDOUT;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

constexpr const char* kRuleset = R"(table inet fw {
	chain input {
		type filter hook input priority filter; policy accept;
		ip saddr 10.99.0.3 udp dport 5556 counter packets 0 bytes 0 drop
		udp dport 5556 counter packets 0 bytes 0
	}
}
table ip rj {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport { 7777, 7779 } counter packets 0 bytes 0 jump refuse
	}

	chain refuse {
		counter packets 0 bytes 0 reject with tcp reset
	}
}
table ip nat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		udp dport 6000 counter packets 0 bytes 0 dnat to :5556
	}
}
)";

class HybridEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nfbpf-hybrid-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/nfbpfd.sock";
    auto ns = NetnsPair::create();
    ASSERT_TRUE(ns) << ns.error().describe();
    ns_.emplace(std::move(*ns));
    ASSERT_TRUE(ns_->run_in_sender({"ip", "addr", "add", std::string(kOtherSender) + "/24", "dev", "va"}));
    before_daemon();
    if (HasFatalFailure()) return;
    start_daemon();
    if (HasFatalFailure()) return;
    ::setenv("NFBPF_SOCKET", socket_.c_str(), 1);
    Result<Fd> rx = fail(EINVAL, "unset"), tx1 = fail(EINVAL, "unset"), tx3 = fail(EINVAL, "unset");
    ASSERT_TRUE(ns_->in_receiver([&] {
      rx = codegen::testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort);
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      listener_ = Fd(fd);
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in sa{.sin_family = AF_INET, .sin_port = htons(kRejectPort)};
      ::inet_pton(AF_INET, NetnsPair::kReceiverAddr, &sa.sin_addr);
      ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
      ASSERT_EQ(::listen(fd, 8), 0);
    }));
    ASSERT_TRUE(ns_->in_sender([&] {
      tx1 = codegen::testing::udp_socket_bound(NetnsPair::kSenderAddr, 0);
      tx3 = codegen::testing::udp_socket_bound(kOtherSender, 0);
    }));
    ASSERT_TRUE(rx && tx1 && tx3);
    rx_ = std::move(*rx);
    tx1_ = std::move(*tx1);
    tx3_ = std::move(*tx3);
  }

  // Starts nfbpfd in the receiver namespace and waits for its socket.
  void start_daemon() {
    std::vector<std::string> args{NFBPFD_PATH, "--socket", socket_, "--offload=hybrid", "--log-level=info"};
    for (auto& a : daemon_args()) args.push_back(std::move(a));
    ASSERT_TRUE(ns_->in_receiver([&] {
      daemon_ = ::fork();
      if (daemon_ == 0) {
        int log = ::open((dir_ + "/nfbpfd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log >= 0) ::dup2(log, 2);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(NFBPFD_PATH, argv.data());
        ::_exit(127);
      }
    }));
    bool up = false;
    for (int i = 0; i < 500 && !up; ++i) {
      struct stat st;
      up = ::stat(socket_.c_str(), &st) == 0;
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(up) << daemon_log();
  }
  // Stops it with `sig`; its exit status (-1: killed by a signal).
  int stop_daemon(int sig) {
    if (daemon_ <= 0) return -1;
    ::kill(daemon_, sig);
    int status = 0;
    ::waitpid(daemon_, &status, 0);
    daemon_ = -1;
    ::unlink(socket_.c_str());  // a killed daemon leaves it behind
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  virtual void before_daemon() {}
  virtual std::vector<std::string> daemon_args() const { return {}; }
  virtual void after_daemon() {}

  void TearDown() override {
    if (daemon_ > 0) stop_daemon(SIGTERM);
    after_daemon();
    ::unlink((dir_ + "/ruleset.nft").c_str());
    ::unlink((dir_ + "/nfbpfd.log").c_str());
    ::unlink(socket_.c_str());
    ::unlink((socket_ + ".lock").c_str());
    ::rmdir(dir_.c_str());
  }

  std::string daemon_log() const {
    std::ifstream f(dir_ + "/nfbpfd.log");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
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
  std::string kernel_ruleset() {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"nft", "list", "ruleset"}); }));
    return r.output;
  }
  // Datagrams from `tx` to `port` that reached the receiver's socket (kPort).
  int delivered(const Fd& tx, uint16_t port) {
    codegen::testing::udp_drain(rx_, 0);
    auto sent = codegen::testing::udp_send(tx, NetnsPair::kReceiverAddr, port, kPackets, 100);
    EXPECT_TRUE(sent && *sent == kPackets);
    return codegen::testing::udp_drain(rx_, 200);
  }
  int connect_reject_port() {
    int err = -1;
    EXPECT_TRUE(ns_->in_sender([&] { err = tcp_connect(NetnsPair::kSenderAddr, NetnsPair::kReceiverAddr, kRejectPort); }));
    return err;
  }
  nlohmann::json status() {
    Outcome st = run_captured({NFBPF_CLI_PATH, "--socket", socket_, "status", "-j"});
    EXPECT_EQ(st.status, 0) << st.output;
    return nlohmann::json::parse(st.output, nullptr, false);
  }
  std::string placed(const nlohmann::json& st, const std::string& family, const std::string& table, const std::string& chain) {
    if (st.is_discarded() || !st.contains("placement")) return "no placement";
    for (const auto& p : st["placement"])
      if (p["family"] == family && p["table"] == table && p["chain"] == chain) return p["where"].get<std::string>();
    return "missing";
  }

  std::string dir_, socket_;
  std::optional<NetnsPair> ns_;
  pid_t daemon_ = -1;
  Fd rx_, tx1_, tx3_, listener_;
};

// The listing of `ruleset` loaded into the kernel alone, in a namespace of its own.
std::string kernel_only_listing(const std::string& dir, const std::string& ruleset) {
  std::ofstream(dir + "/kernel.nft") << ruleset;
  Outcome r = run_captured({"unshare", "-n", "sh", "-c", "nft -f \"$0\" && nft list ruleset", dir + "/kernel.nft"});
  ::unlink((dir + "/kernel.nft").c_str());
  return r.status == 0 ? r.output : "failed: " + r.output;
}

TEST_F(HybridEndToEnd, FilterRunsAsBpfRejectAndNatRunInTheKernelOneListing) {
  ASSERT_EQ(connect_reject_port(), 0);  // the listener answers while no rule rejects
  Outcome r = nft_file(kRuleset);
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();

  const nlohmann::json st = status();
  EXPECT_EQ(st.value("mode", ""), "hybrid");
  EXPECT_EQ(placed(st, "inet", "fw", "input"), "bpf") << st.dump(1);
  EXPECT_EQ(placed(st, "ip", "rj", "input"), "kernel");
  EXPECT_EQ(placed(st, "ip", "rj", "refuse"), "kernel");
  EXPECT_EQ(placed(st, "ip", "nat", "pre"), "kernel");
  // The kernel holds the reject and nat tables, not the filter table BPF runs.
  const std::string kernel = kernel_ruleset();
  EXPECT_EQ(kernel.find("table inet fw"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("table ip rj"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("table ip nat"), std::string::npos) << kernel;

  // Before any traffic: the listing is the kernel-only run's, byte for byte.
  Outcome listed = nft({"list", "ruleset"});
  ASSERT_EQ(listed.status, 0) << listed.output;
  EXPECT_EQ(listed.output, kernel_only_listing(dir_, kRuleset));

  EXPECT_EQ(delivered(tx1_, kPort), kPackets);     // BPF: accepted and counted
  EXPECT_EQ(delivered(tx3_, kPort), 0);            // BPF: dropped
  EXPECT_EQ(delivered(tx1_, kNatPort), kPackets);  // kernel: DNAT'd to kPort, then counted by BPF
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);  // kernel: the RST arrived

  listed = nft({"list", "ruleset"});
  ASSERT_EQ(listed.status, 0) << listed.output;
  const std::string& l = listed.output;
  // BPF counters: 5 dropped from .3; 5 direct + 5 DNAT'd accepted (input sees the translated port).
  EXPECT_NE(l.find("ip saddr 10.99.0.3 udp dport 5556 counter packets 5 bytes 640 drop"), std::string::npos) << l;
  EXPECT_NE(l.find("udp dport 5556 counter packets 10 bytes 1280\n"), std::string::npos) << l;
  // Kernel counters: the nat chain sees a flow's first packet only; one SYN rejected.
  EXPECT_NE(l.find("udp dport 6000 counter packets 1 bytes 128 dnat to :5556"), std::string::npos) << l;
  EXPECT_NE(l.find("tcp dport { 7777, 7779 } counter packets 1 bytes 60 jump refuse"), std::string::npos) << l;
  EXPECT_NE(l.find("counter packets 1 bytes 60 reject with tcp reset"), std::string::npos) << l;
}

TEST_F(HybridEndToEnd, KernelCountersSurviveAReplacementOfTheirTable) {
  ASSERT_EQ(nft_file(kRuleset).status, 0) << daemon_log();
  ASSERT_EQ(connect_reject_port(), ECONNREFUSED);
  const auto table_line = [&] {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"nft", "-a", "list", "table", "ip", "rj"}); }));
    return r.output.substr(0, r.output.find('\n'));  // carries the kernel table's handle
  };
  const std::string before = table_line();
  // A new rule with an anonymous set (a new set in the kernel table): not an in-place change, the
  // table is replaced whole (a new kernel table handle), its counters carried over.
  Outcome add = nft({"insert", "rule", "ip", "rj", "input", "tcp", "dport", "{", "7778,", "7780", "}", "counter", "reject"});
  ASSERT_EQ(add.status, 0) << add.output << daemon_log();
  EXPECT_NE(table_line(), before);
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);
  Outcome listed = nft({"list", "table", "ip", "rj"});
  EXPECT_NE(listed.output.find("tcp dport { 7778, 7780 } counter packets 0 bytes 0 reject"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("tcp dport { 7777, 7779 } counter packets 2 bytes 120 jump refuse"), std::string::npos)
      << listed.output;
  // nft reset rules ... is not in nft 1.0.6; `reset counters` zeroes named counters only. Rules
  // reset through `nft reset rules` arrive as GETRULE_RESET (covered by HybridHook::after_reset).
}

// Base chain counters of a kernel-placed chain (iptables-nft's policy counters; REJECT keeps the
// chain in the kernel): the kernel chain is created with them, counts the policy packets, and an
// update carrying counters (`iptables -Z`) replaces them although nothing else changed. Values are
// the kernel's for the same commands (checked with `unshare -n iptables-nft`).
TEST_F(HybridEndToEnd, KernelPlacedBaseChainCountersCountThePolicyPackets) {
  const auto sh = [&](const std::string& cmd) {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"sh", "-c", cmd}); }));
    return r;
  };
  const std::string run = NFBPF_RUN_PATH;
  Outcome r = sh("printf '*filter\\n:INPUT ACCEPT [5:100]\\n-A INPUT -p tcp --dport 7777 -j REJECT\\nCOMMIT\\n' | " +
                 run + " iptables-nft-restore -c");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "filter", "INPUT"), "kernel");
  const auto policy_line = [&] {
    Outcome l = sh(run + " iptables-nft -L INPUT -v -x -n");
    return l.output.substr(0, l.output.find('\n'));
  };
  EXPECT_EQ(policy_line(), "Chain INPUT (policy ACCEPT 5 packets, 100 bytes)");
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  EXPECT_EQ(policy_line(), fmt::format("Chain INPUT (policy ACCEPT {} packets, {} bytes)", 5 + kPackets, 100 + kPackets * 128));
  ASSERT_EQ(sh(run + " iptables-nft -Z INPUT").status, 0);
  EXPECT_EQ(policy_line(), "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)");
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  EXPECT_EQ(policy_line(), fmt::format("Chain INPUT (policy ACCEPT {} packets, {} bytes)", kPackets, kPackets * 128));
}

// Kernel-placed rules' quotas list the bytes the kernel consumed (capped as it dumps them), and a
// rule replaced by handle starts from its own values even when it is identical to the old one
// (which leaves the kernel table's fingerprint unchanged). Expected values: the same commands
// against the kernel alone.
TEST_F(HybridEndToEnd, KernelPlacedQuotasListAndReplacedRulesStartAgain) {
  Outcome r = nft_file(R"(table ip k {
  chain input {
    type filter hook input priority 0;
    udp dport 5556 counter quota 1000 bytes accept
    tcp dport 7777 reject
  }
}
)");
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "k", "input"), "kernel");
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  Outcome list = nft({"list", "table", "ip", "k"});
  EXPECT_NE(list.output.find("counter packets 5 bytes 640 quota 1000 bytes used 640 bytes accept"), std::string::npos)
      << list.output;
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  list = nft({"list", "table", "ip", "k"});
  EXPECT_NE(list.output.find("counter packets 10 bytes 1280 quota 1000 bytes used 1000 bytes accept"), std::string::npos)
      << list.output;
  Outcome rep = nft({"replace", "rule", "ip", "k", "input", "handle", "2", "udp", "dport", "5556", "counter", "quota", "1000",
                     "bytes", "accept"});
  ASSERT_EQ(rep.status, 0) << rep.output << daemon_log();
  list = nft({"list", "table", "ip", "k"});
  EXPECT_NE(list.output.find("counter packets 0 bytes 0 quota 1000 bytes accept"), std::string::npos) << list.output;
}

// A change to a kernel-placed table replaces the whole kernel table (one kernel transaction). What
// the other rules hold must survive it: their counters (carried over by value) and the conntrack
// state their NAT created (conntrack entries live outside the table): the DNAT'd flow keeps its
// binding, so the nat chain, which sees a flow's first packet only, still counts 1 after the
// replacement and the flow's later datagrams are still translated and delivered.
TEST_F(HybridEndToEnd, ReplacingANatTableKeepsItsFlowsAndCounters) {
  ASSERT_EQ(nft_file(kRuleset).status, 0) << daemon_log();
  ASSERT_EQ(delivered(tx1_, kNatPort), kPackets);
  Outcome add = nft({"add", "rule", "ip", "nat", "pre", "udp", "dport", "6001", "counter", "dnat", "to", ":5556"});
  ASSERT_EQ(add.status, 0) << add.output << daemon_log();
  const std::string kernel = kernel_ruleset();
  EXPECT_NE(kernel.find("udp dport 6001 counter packets 0 bytes 0 dnat to :5556"), std::string::npos) << kernel;
  EXPECT_EQ(delivered(tx1_, kNatPort), kPackets);  // same socket, same flow: still translated
  Outcome listed = nft({"list", "table", "ip", "nat"});
  EXPECT_NE(listed.output.find("udp dport 6000 counter packets 1 bytes 128 dnat to :5556"), std::string::npos)
      << listed.output;
  EXPECT_NE(listed.output.find("udp dport 6001 counter packets 0 bytes 0 dnat to :5556"), std::string::npos)
      << listed.output;
}

// Expressions the kernel lists with attributes its init refuses in a request (found by the listing
// differential in hybrid mode, compat-tests/run.sh --offload hybrid): a TCP option write and strip
// (exthdr FLAGS/OFFSET/LEN: EINVAL) and a dynset on a set without timeouts (TIMEOUT 0, and the
// size 0xffff a dynset binding gives the set: EOPNOTSUPP). nfbpfd sends them in request form.
TEST_F(HybridEndToEnd, KernelPlacedRulesAreSentInTheFormTheKernelAccepts) {
  constexpr const char* kDumpForm = R"(table ip k {
	set set5 {
		type ipv4_addr . ipv4_addr
	}

	chain input {
		type filter hook input priority 10; policy accept;
		tcp option maxseg size set 1360
		reset tcp option mptcp
		udp dport 5556 add @set5 { ip saddr . ip daddr }
		tcp dport 7777 reject with tcp reset
	}
}
)";
  Outcome r = nft_file(kDumpForm);
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "k", "input"), "kernel");
  const std::string kernel = kernel_ruleset();
  EXPECT_NE(kernel.find("tcp option maxseg size set 1360"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("reset tcp option mptcp"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("add @set5 { ip saddr . ip daddr }"), std::string::npos) << kernel;
  // The kernel's dynset runs: a datagram adds its address pair to the kernel's set5.
  EXPECT_EQ(delivered(tx1_, kPort), kPackets);
  Outcome set = {};
  ASSERT_TRUE(ns_->in_receiver([&] { set = run_captured({"nft", "list", "set", "ip", "k", "set5"}); }));
  EXPECT_NE(set.output.find("10.99.0.1 . 10.99.0.2"), std::string::npos) << set.output;
  // A later change replaces the table again: still accepted.
  Outcome add = nft({"add", "rule", "ip", "k", "input", "tcp", "dport", "7778", "reject"});
  EXPECT_EQ(add.status, 0) << add.output << daemon_log();
}

TEST_F(HybridEndToEnd, ARefusedKernelBatchLeavesBothSidesUnchanged) {
  ASSERT_EQ(nft_file(kRuleset).status, 0) << daemon_log();
  // Another process owns a kernel table `ip blocker` (NFT_TABLE_F_OWNER): the kernel refuses
  // nfbpfd's batch that would replace it (EPERM).
  KernelNftClient owner;
  Result<void> made = fail(EINVAL, "unset");
  ASSERT_TRUE(ns_->in_receiver([&] {
    std::unique_ptr<nftnl_table, void (*)(const nftnl_table*)> t(nftnl_table_alloc(), nftnl_table_free);
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, "blocker");
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
    KernelMsg m = kernel_msg(NFT_MSG_NEWTABLE, NFPROTO_IPV4, NLM_F_CREATE, 256,
                             [&](nlmsghdr* n) { nftnl_table_nlmsg_build_payload(n, t.get()); }, "add table");
    made = owner.batch(std::span<const KernelMsg>(&m, 1));
  }));
  ASSERT_TRUE(made) << made.error().describe();
  const std::string kernel_before = kernel_ruleset();
  const std::string listed_before = nft({"list", "ruleset"}).output;
  const uint32_t prog_before = status()["chains"][0]["program"]["id"].get<uint32_t>();

  // One transaction: a BPF-side change (drop 10.99.0.1) and a kernel-side one (a nat chain in
  // `blocker`). It must fail as a whole.
  Outcome r = nft_file(R"(add rule inet fw input ip saddr 10.99.0.1 drop
table ip blocker {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		masquerade
	}
}
)");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("Operation not permitted"), std::string::npos) << r.output;
  EXPECT_EQ(nft({"list", "ruleset"}).output, listed_before);
  EXPECT_EQ(kernel_ruleset(), kernel_before);
  EXPECT_EQ(status()["chains"][0]["program"]["id"].get<uint32_t>(), prog_before);
  EXPECT_EQ(delivered(tx1_, kPort), kPackets);  // the refused drop rule does not run
  EXPECT_EQ(delivered(tx3_, kPort), 0);         // the committed BPF chain still does
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);
}


// Incremental kernel updates (kernel_tables.h): rules added to or deleted from a kernel-placed
// chain go to the kernel as NEWRULE/DELRULE in one batch, the table is not replaced.
constexpr const char* kKernelChain = R"(table ip k {
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport 5556 counter packets 0 bytes 0
		tcp dport 7777 counter packets 0 bytes 0 reject with tcp reset
		udp dport 5557 counter packets 0 bytes 0
	}
}
)";

// The rule lines of a listing (those naming a port), trimmed, handles comments cut.
std::vector<std::string> rule_lines(const std::string& listing) {
  std::vector<std::string> out;
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    if (line.find("dport") == std::string::npos) continue;
    line = line.substr(line.find_first_not_of("\t "));
    if (auto h = line.find(" # handle"); h != std::string::npos) line.resize(h);
    out.push_back(line);
  }
  return out;
}

// The handle `nft -a` lists after the line containing `text` (-1: none).
long listed_handle(const std::string& listing, const std::string& text) {
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);)
    if (line.find(text) != std::string::npos) {
      auto h = line.find("# handle ");
      return h == std::string::npos ? -1 : std::stol(line.substr(h + 9));
    }
  return -1;
}

TEST_F(HybridEndToEnd, RulesAddedAndDeletedInPlaceKeepNfbpfdsOrderInTheKernel) {
  ASSERT_EQ(nft_file(kKernelChain).status, 0) << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "k", "input"), "kernel");
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  ASSERT_EQ(connect_reject_port(), ECONNREFUSED);
  const auto kernel_k = [&] {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"nft", "-a", "list", "table", "ip", "k"}); }));
    return r.output;
  };
  const std::string first = kernel_k();
  const std::string table_line = first.substr(0, first.find('\n'));  // carries the kernel table's handle
  const long kept_handle = listed_handle(first, "udp dport 5556");
  const long reject_handle = listed_handle(first, "tcp dport 7777");
  ASSERT_GT(kept_handle, 0) << first;
  // nfbpfd's handles (nft -a through the shim).
  const auto ours = [&](const std::string& text) { return listed_handle(nft({"-a", "list", "table", "ip", "k"}).output, text); };
  const auto check = [&](const std::vector<std::string>& expected, const std::string& step) {
    const std::string kernel = kernel_k();
    EXPECT_EQ(rule_lines(kernel), expected) << step << "\n" << kernel;
    EXPECT_EQ(rule_lines(nft({"list", "table", "ip", "k"}).output), expected) << step;
    // Not replaced: the kernel table and the untouched rules keep their kernel handles.
    EXPECT_EQ(kernel.substr(0, kernel.find('\n')), table_line) << step;
    EXPECT_EQ(listed_handle(kernel, "udp dport 5556"), kept_handle) << step;
    EXPECT_EQ(listed_handle(kernel, "tcp dport 7777"), reject_handle) << step;
  };
  const std::string r5556 = "udp dport 5556 counter packets 5 bytes 640";
  const std::string r7777 = "tcp dport 7777 counter packets 1 bytes 60 reject with tcp reset";
  const std::string r5557 = "udp dport 5557 counter packets 0 bytes 0";
  const std::string c = " counter packets 0 bytes 0";
  ASSERT_EQ(nft({"insert", "rule", "ip", "k", "input", "udp", "dport", "1001", "counter"}).status, 0) << daemon_log();
  check({"udp dport 1001" + c, r5556, r7777, r5557}, "insert at the head");
  const std::string mid = std::to_string(ours("tcp dport 7777"));
  ASSERT_EQ(nft({"add", "rule", "ip", "k", "input", "position", mid, "udp", "dport", "1002", "counter"}).status, 0);
  check({"udp dport 1001" + c, r5556, r7777, "udp dport 1002" + c, r5557}, "add in the middle");
  ASSERT_EQ(nft({"add", "rule", "ip", "k", "input", "udp", "dport", "1003", "counter"}).status, 0);
  check({"udp dport 1001" + c, r5556, r7777, "udp dport 1002" + c, r5557, "udp dport 1003" + c}, "add at the end");
  const std::string before5556 = std::to_string(ours("udp dport 5556"));
  ASSERT_EQ(nft({"insert", "rule", "ip", "k", "input", "position", before5556, "udp", "dport", "1004", "counter"}).status, 0);
  check({"udp dport 1001" + c, "udp dport 1004" + c, r5556, r7777, "udp dport 1002" + c, r5557, "udp dport 1003" + c},
        "insert before a rule");
  // Several at once (one nft -f): two after the head rule, one at the very end.
  Outcome several = nft_file("add rule ip k input position " + std::to_string(ours("udp dport 1001")) +
                             " udp dport 1005 counter\nadd rule ip k input position " + std::to_string(ours("udp dport 1001")) +
                             " udp dport 1006 counter\nadd rule ip k input udp dport 1007 counter\n");
  ASSERT_EQ(several.status, 0) << several.output << daemon_log();
  check({"udp dport 1001" + c, "udp dport 1006" + c, "udp dport 1005" + c, "udp dport 1004" + c, r5556, r7777,
         "udp dport 1002" + c, r5557, "udp dport 1003" + c, "udp dport 1007" + c},
        "three in one batch");
  // Deletes at the head, in the middle, at the end, then two in one batch.
  for (const char* port : {"1001", "1002", "1007"}) {
    ASSERT_EQ(nft({"delete", "rule", "ip", "k", "input", "handle", std::to_string(ours(std::string("udp dport ") + port))}).status, 0)
        << port << daemon_log();
  }
  check({"udp dport 1006" + c, "udp dport 1005" + c, "udp dport 1004" + c, r5556, r7777, r5557, "udp dport 1003" + c},
        "deleted head, middle, end");
  Outcome both = nft_file("delete rule ip k input handle " + std::to_string(ours("udp dport 1005")) +
                          "\ndelete rule ip k input handle " + std::to_string(ours("udp dport 1003")) +
                          "\nadd rule ip k input position " + std::to_string(ours("udp dport 5557")) + " udp dport 1008 counter\n");
  ASSERT_EQ(both.status, 0) << both.output << daemon_log();
  check({"udp dport 1006" + c, "udp dport 1004" + c, r5556, r7777, r5557, "udp dport 1008" + c}, "two deleted, one added");
  // The kept rules went on counting in the kernel.
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  ASSERT_EQ(connect_reject_port(), ECONNREFUSED);
  check({"udp dport 1006" + c, "udp dport 1004" + c, "udp dport 5556 counter packets 10 bytes 1280",
         "tcp dport 7777 counter packets 2 bytes 120 reject with tcp reset", r5557, "udp dport 1008" + c},
        "after more traffic");
  const std::string log = daemon_log();
  EXPECT_EQ(log.find("adopting"), std::string::npos);
}

// NAT state and counters of the other rules: a rule added to and deleted from the nat chain in
// place leaves the DNAT'd flow translated and the nat rule's counter (1: a flow's first packet)
// and kernel handle as they were.
TEST_F(HybridEndToEnd, RulesAddedInPlaceToANatChainLeaveItsFlowsAndCounters) {
  ASSERT_EQ(nft_file(kRuleset).status, 0) << daemon_log();
  ASSERT_EQ(delivered(tx1_, kNatPort), kPackets);
  const auto kernel_nat = [&] {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"nft", "-a", "list", "table", "ip", "nat"}); }));
    return r.output;
  };
  const std::string before = kernel_nat();
  const long nat_handle = listed_handle(before, "udp dport 6000");
  ASSERT_GT(nat_handle, 0) << before;
  ASSERT_EQ(nft({"insert", "rule", "ip", "nat", "pre", "udp", "dport", "6001", "counter", "dnat", "to", ":5556"}).status, 0)
      << daemon_log();
  std::string kernel = kernel_nat();
  EXPECT_EQ(rule_lines(kernel), (std::vector<std::string>{"udp dport 6001 counter packets 0 bytes 0 dnat to :5556",
                                                          "udp dport 6000 counter packets 1 bytes 128 dnat to :5556"}))
      << kernel;
  EXPECT_EQ(listed_handle(kernel, "udp dport 6000"), nat_handle);
  EXPECT_EQ(kernel.substr(0, kernel.find('\n')), before.substr(0, before.find('\n')));
  EXPECT_EQ(delivered(tx1_, kNatPort), kPackets);  // same flow: still translated, no new first packet
  const long added = listed_handle(nft({"-a", "list", "table", "ip", "nat"}).output, "udp dport 6001");
  ASSERT_EQ(nft({"delete", "rule", "ip", "nat", "pre", "handle", std::to_string(added)}).status, 0) << daemon_log();
  kernel = kernel_nat();
  EXPECT_EQ(rule_lines(kernel), (std::vector<std::string>{"udp dport 6000 counter packets 1 bytes 128 dnat to :5556"}))
      << kernel;
  EXPECT_EQ(listed_handle(kernel, "udp dport 6000"), nat_handle);
  EXPECT_EQ(delivered(tx1_, kNatPort), kPackets);
  Outcome listed = nft({"list", "table", "ip", "nat"});
  EXPECT_EQ(rule_lines(listed.output), rule_lines(kernel)) << listed.output;
}

// A kernel batch refused after its in-place part (a rule added to `ip k`, then a table another
// process owns): the kernel undoes the whole transaction, nfbpfd keeps what it held, and the next
// in-place update still finds the kernel's rules (the handles nfbpfd keeps are still right).
TEST_F(HybridEndToEnd, ARefusedInPlaceUpdateLeavesBothSidesUnchanged) {
  ASSERT_EQ(nft_file(kKernelChain).status, 0) << daemon_log();
  KernelNftClient owner;
  Result<void> made = fail(EINVAL, "unset");
  ASSERT_TRUE(ns_->in_receiver([&] {
    std::unique_ptr<nftnl_table, void (*)(const nftnl_table*)> t(nftnl_table_alloc(), nftnl_table_free);
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, "blocker");
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
    KernelMsg m = kernel_msg(NFT_MSG_NEWTABLE, NFPROTO_IPV4, NLM_F_CREATE, 256,
                             [&](nlmsghdr* n) { nftnl_table_nlmsg_build_payload(n, t.get()); }, "add table");
    made = owner.batch(std::span<const KernelMsg>(&m, 1));
  }));
  ASSERT_TRUE(made) << made.error().describe();
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  const std::string kernel_before = kernel_ruleset();
  const std::string listed_before = nft({"list", "ruleset"}).output;
  const long first = listed_handle(nft({"-a", "list", "table", "ip", "k"}).output, "udp dport 5556");
  Outcome r = nft_file("insert rule ip k input udp dport 1001 counter\ndelete rule ip k input handle " +
                       std::to_string(first) +
                       "\ntable ip blocker {\n chain post {\n type nat hook postrouting priority srcnat; policy accept;\n"
                       "  masquerade\n }\n}\n");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("Operation not permitted"), std::string::npos) << r.output;
  EXPECT_EQ(kernel_ruleset(), kernel_before);
  EXPECT_EQ(nft({"list", "ruleset"}).output, listed_before);
  // Still in step: an insert at the head and a delete of the first rule in place.
  ASSERT_EQ(nft({"insert", "rule", "ip", "k", "input", "udp", "dport", "1002", "counter"}).status, 0) << daemon_log();
  ASSERT_EQ(nft({"delete", "rule", "ip", "k", "input", "handle", std::to_string(first)}).status, 0) << daemon_log();
  const std::vector<std::string> expected{"udp dport 1002 counter packets 0 bytes 0",
                                          "tcp dport 7777 counter packets 0 bytes 0 reject with tcp reset",
                                          "udp dport 5557 counter packets 0 bytes 0"};
  Outcome kernel;
  ASSERT_TRUE(ns_->in_receiver([&] { kernel = run_captured({"nft", "list", "table", "ip", "k"}); }));
  EXPECT_EQ(rule_lines(kernel.output), expected) << kernel.output;
  EXPECT_EQ(rule_lines(nft({"list", "table", "ip", "k"}).output), expected);
}

// Elements added to (and, without timeouts, deleted from) a kernel-held set go in place too: the
// other elements' timeouts keep running (a replace would restart them), the table and the rule
// keep their kernel handle and counter. Deleting an element with a timeout replaces the table
// (the kernel may have expired it: its DELSETELEM could be refused).
TEST_F(HybridEndToEnd, ElementsAddedInPlaceKeepTheOtherElementsTimeouts) {
  ASSERT_EQ(nft_file(R"(table ip k {
	set tmo {
		type ipv4_addr
		flags timeout
		elements = { 10.7.0.1 timeout 1m }
	}

	set plain {
		type ipv4_addr
		elements = { 10.8.0.1, 10.8.0.2 }
	}

	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr @tmo counter packets 0 bytes 0
		ip saddr @plain counter packets 0 bytes 0
		udp dport 5556 counter packets 0 bytes 0
		tcp dport 7777 reject
	}
}
)").status, 0) << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "k", "input"), "kernel");
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  const auto kernel_k = [&] {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"nft", "-a", "list", "table", "ip", "k"}); }));
    return r.output;
  };
  const std::string first = kernel_k();
  const std::string table_line = first.substr(0, first.find('\n'));
  const long rule_handle = listed_handle(first, "udp dport 5556");
  // Seconds left on 10.7.0.1 as the kernel lists it ("expires 58s123ms"; -1: not listed).
  const auto expires_s = [](const std::string& listing) {
    std::smatch m;
    static const std::regex kExpires("10\\.7\\.0\\.1 timeout 1m expires (\\d+)s");
    return std::regex_search(listing, m, kExpires) ? std::stoi(m[1]) : -1;
  };
  ASSERT_GE(expires_s(first), 58) << first;
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_EQ(nft({"add", "element", "ip", "k", "tmo", "{", "10.7.0.2", "timeout", "1m", "}"}).status, 0) << daemon_log();
  ASSERT_EQ(nft({"add", "element", "ip", "k", "plain", "{", "10.8.0.3", "}"}).status, 0) << daemon_log();
  ASSERT_EQ(nft({"delete", "element", "ip", "k", "plain", "{", "10.8.0.1", "}"}).status, 0) << daemon_log();
  std::string kernel = kernel_k();
  EXPECT_EQ(kernel.substr(0, kernel.find('\n')), table_line) << kernel;  // not replaced
  EXPECT_EQ(listed_handle(kernel, "udp dport 5556"), rule_handle);
  EXPECT_NE(kernel.find("udp dport 5556 counter packets 5 bytes 640"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("10.7.0.2 timeout 1m expires"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("elements = { 10.8.0.2, 10.8.0.3 }"), std::string::npos) << kernel;
  const int left = expires_s(kernel);
  EXPECT_GE(left, 50) << kernel;
  EXPECT_LE(left, 57) << kernel;  // kept running: a replace would have restarted it at 1m
  // The same elements through nfbpfd.
  Outcome listed = nft({"list", "set", "ip", "k", "plain"});
  EXPECT_NE(listed.output.find("elements = { 10.8.0.2, 10.8.0.3 }"), std::string::npos) << listed.output;
  // An element with a timeout deleted: in place too (DESTROYSETELEM, which the kernel skips when
  // it expired the element already), the first element's timeout still running.
  ASSERT_EQ(nft({"delete", "element", "ip", "k", "tmo", "{", "10.7.0.2", "}"}).status, 0) << daemon_log();
  kernel = kernel_k();
  EXPECT_EQ(kernel.substr(0, kernel.find('\n')), table_line) << kernel;  // not replaced
  EXPECT_EQ(kernel.find("10.7.0.2"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("udp dport 5556 counter packets 5 bytes 640"), std::string::npos) << kernel;
  EXPECT_LE(expires_s(kernel), 57) << kernel;
}

// A rule of a kernel-placed chain replaced by handle (`nft replace rule`): NEWRULE with
// NLM_F_REPLACE and the kernel's handle, in place. As in the kernel alone (checked with `unshare
// -n nft`): the replacement keeps its handle and starts from its own counter, the table and the
// other rules keep theirs.
TEST_F(HybridEndToEnd, RulesReplacedInPlaceKeepTheTableAndTheOtherRules) {
  ASSERT_EQ(nft_file(R"(table ip k {
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport 5556 counter packets 0 bytes 0
		udp dport 5557 counter packets 0 bytes 0
		tcp dport 7777 reject
	}
}
)").status, 0) << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "k", "input"), "kernel");
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  const auto kernel_k = [&] {
    Outcome r;
    EXPECT_TRUE(ns_->in_receiver([&] { r = run_captured({"nft", "-a", "list", "table", "ip", "k"}); }));
    return r.output;
  };
  const std::string first = kernel_k();
  const std::string table_line = first.substr(0, first.find('\n'));
  const long kept = listed_handle(first, "udp dport 5556"), old = listed_handle(first, "udp dport 5557");
  ASSERT_GT(kept, 0) << first;
  ASSERT_GT(old, 0) << first;
  const long ours = listed_handle(nft({"-a", "list", "table", "ip", "k"}).output, "udp dport 5557");
  ASSERT_GT(ours, 0);
  Outcome rep = nft({"replace", "rule", "ip", "k", "input", "handle", std::to_string(ours), "udp", "dport", "5558",
                     "counter", "packets", "7", "bytes", "700"});
  ASSERT_EQ(rep.status, 0) << rep.output << daemon_log();
  const std::string kernel = kernel_k();
  EXPECT_EQ(kernel.substr(0, kernel.find('\n')), table_line) << kernel;  // not replaced whole
  EXPECT_EQ(listed_handle(kernel, "udp dport 5556"), kept);
  EXPECT_EQ(listed_handle(kernel, "udp dport 5558"), old) << kernel;  // the kernel's replace keeps the handle
  EXPECT_NE(kernel.find("udp dport 5556 counter packets 5 bytes 640"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("udp dport 5558 counter packets 7 bytes 700"), std::string::npos) << kernel;  // its own values
  EXPECT_EQ(kernel.find("5557"), std::string::npos) << kernel;
  Outcome listed = nft({"-a", "list", "table", "ip", "k"});
  EXPECT_NE(listed.output.find(fmt::format("udp dport 5558 counter packets 7 bytes 700 # handle {}", ours)),
            std::string::npos) << listed.output;
  ASSERT_EQ(delivered(tx1_, kPort), kPackets);
  listed = nft({"list", "table", "ip", "k"});
  EXPECT_NE(listed.output.find("udp dport 5556 counter packets 10 bytes 1280"), std::string::npos) << listed.output;
}

// A kernel-held set of thousands of elements: sent in several NEWSETELEM messages (one message's
// element nest has a 16-bit length: 5 000 addresses (80 KB) overflowed it and the kernel refused, ENOENT),
// then an element added in place.
TEST_F(HybridEndToEnd, AKernelHeldSetOfThousandsOfElementsLoads) {
  std::string ruleset = "table ip k {\n set big {\n  type ipv4_addr\n  elements = { ";
  for (int i = 0; i < 5000; ++i) ruleset += fmt::format("10.5.{}.{}, ", i / 256, i % 256);
  ruleset += "10.99.0.1 }\n }\n chain input {\n  type filter hook input priority 0; policy accept;\n"
             "  ip saddr @big udp dport 5556 counter drop\n  tcp dport 7777 reject\n }\n}\n";
  Outcome r = nft_file(ruleset);
  ASSERT_EQ(r.status, 0) << r.output << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "k", "input"), "kernel");
  EXPECT_EQ(delivered(tx1_, kPort), 0);  // 10.99.0.1 is in the kernel's set: dropped
  ASSERT_EQ(nft({"add", "element", "ip", "k", "big", "{", "10.99.0.3", "}"}).status, 0) << daemon_log();
  EXPECT_EQ(delivered(tx3_, kPort), 0);
  Outcome set;
  ASSERT_TRUE(ns_->in_receiver([&] { set = run_captured({"nft", "list", "set", "ip", "k", "big"}); }));
  EXPECT_NE(set.output.find("10.5.19.135"), std::string::npos);  // the 5 000th
  EXPECT_NE(set.output.find("10.99.0.3"), std::string::npos);
}

TEST_F(HybridEndToEnd, ResetCountersZeroesAKernelHeldCounterObject) {
  ASSERT_EQ(nft_file("table ip k2 {\n counter c1 {\n }\n chain input {\n type filter hook input priority 5; policy accept;\n"
                     "  tcp dport 7777 counter name \"c1\" reject with tcp reset\n }\n}\n").status, 0)
      << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "k2", "input"), "kernel");
  auto packets = [&] {
    Outcome l = nft({"list", "counter", "ip", "k2", "c1"});
    std::smatch m;
    static const std::regex kPacketsRe("packets (\\d+)");
    return std::regex_search(l.output, m, kPacketsRe) ? std::stoi(m[1]) : -1;
  };
  ASSERT_EQ(connect_reject_port(), ECONNREFUSED);
  EXPECT_EQ(packets(), 1);
  Outcome reset = nft({"reset", "counters"});
  ASSERT_EQ(reset.status, 0) << reset.output;
  EXPECT_NE(reset.output.find("packets 1 bytes 60"), std::string::npos) << reset.output;  // the values before
  EXPECT_EQ(packets(), 0);
  ASSERT_EQ(connect_reject_port(), ECONNREFUSED);
  EXPECT_EQ(packets(), 1);  // counted again from zero in the kernel
}

// A BPF chain and a kernel chain at the same hook and priority share the kernel's one per-hook
// list, where the hook registered last runs first (nf_hook_entries_grow). On this kernel a BPF
// netfilter link cannot join a priority some hook already holds (EBUSY), while an nf_tables chain
// may join a BPF link's priority. So:
//  - kernel chain first, BPF-able chain later: its link is refused, hybrid places that chain in the
//    kernel too, and the kernel orders the two itself (the later one first), as without nfbpf;
//  - BPF chain first, kernel chain later: the kernel chain registers after the link and runs
//    first, again as without nfbpf (a kernel-table replacement registers it again, still after).
constexpr const char* kKernelTie = "table ip k {\n chain input {\n type filter hook input priority 0; policy accept;\n"
                                   "  udp dport 5556 counter reject\n }\n}\n";
constexpr const char* kBpfTie = "table ip b {\n chain input {\n type filter hook input priority 0; policy accept;\n"
                                "  udp dport 5556 counter drop\n }\n}\n";

int tie_count(const std::string& listing) {
  std::smatch m;
  static const std::regex kCounter("udp dport 5556 counter packets (\\d+)");
  return std::regex_search(listing, m, kCounter) ? std::stoi(m[1]) : -1;
}

TEST_F(HybridEndToEnd, AtATieAfterAKernelChainTheBpfAbleChainJoinsTheKernel) {
  ASSERT_EQ(nft_file(kKernelTie).status, 0) << daemon_log();
  ASSERT_EQ(nft_file(kBpfTie).status, 0) << daemon_log();
  const nlohmann::json st = status();
  EXPECT_EQ(placed(st, "ip", "k", "input"), "kernel");
  EXPECT_EQ(placed(st, "ip", "b", "input"), "kernel") << st.dump(1);
  // Placed by the order rule (hook_order.h), before any attach could be refused with EBUSY.
  EXPECT_NE(st.dump().find("created after kernel chain ip k input at input priority 0"), std::string::npos)
      << st.dump(1);
  EXPECT_EQ(delivered(tx1_, kPort), 0);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "b"}).output), kPackets);  // registered last: first
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "k"}).output), 0);
}

// Both chains new in ONE transaction, the BPF-able one created after the kernel one: the kernel
// alone registers them in NEWCHAIN order, so b runs first (checked with `unshare -n nft -f` of
// this file: b's counter 5, k's 0). A BPF link would be attached before the kernel batch and run
// after k; hybrid puts b in the kernel too, with the reason, and the kernel orders the two.
TEST_F(HybridEndToEnd, AtATieInOneTransactionTheLaterBpfAbleChainJoinsTheKernelAndRunsFirst) {
  ASSERT_EQ(nft_file(std::string(kKernelTie) + kBpfTie).status, 0) << daemon_log();
  const nlohmann::json st = status();
  EXPECT_EQ(placed(st, "ip", "k", "input"), "kernel");
  EXPECT_EQ(placed(st, "ip", "b", "input"), "kernel") << st.dump(1);
  EXPECT_NE(st.dump().find("created after kernel chain ip k input at input priority 0"), std::string::npos)
      << st.dump(1);
  EXPECT_EQ(delivered(tx1_, kPort), 0);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "b"}).output), kPackets);  // created last: first
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "k"}).output), 0);
  // A later commit keeps b in the kernel (the rule still holds), and in its place in the order.
  ASSERT_EQ(nft({"add", "rule", "ip", "b", "input", "udp", "dport", "9", "counter"}).status, 0) << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "b", "input"), "kernel");
  EXPECT_EQ(delivered(tx1_, kPort), 0);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "b"}).output), 2 * kPackets);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "k"}).output), 0);
}

// The same across tables created earlier in the other order (b's table before k's, k's chain
// created first): the kernel alone registers the chains in NEWCHAIN order, whatever the tables'
// order (checked with `unshare -n nft -f` of this file: b's counter 5, k's 0), and so does
// nfbpfd's kernel batch (tables first, then every chain in NEWCHAIN order).
TEST_F(HybridEndToEnd, AtATieAcrossTablesTheKernelGetsTheChainsInNewchainOrder) {
  ASSERT_EQ(nft_file(std::string("table ip b\ntable ip k\n") + kKernelTie + kBpfTie).status, 0) << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "b", "input"), "kernel");
  EXPECT_EQ(delivered(tx1_, kPort), 0);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "b"}).output), kPackets);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "k"}).output), 0);
}

TEST_F(HybridEndToEnd, AtATieAfterABpfChainTheKernelChainRunsFirst) {
  ASSERT_EQ(nft_file(kBpfTie).status, 0) << daemon_log();
  ASSERT_EQ(nft_file(kKernelTie).status, 0) << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "b", "input"), "bpf");
  EXPECT_EQ(placed(status(), "ip", "k", "input"), "kernel");
  EXPECT_EQ(delivered(tx1_, kPort), 0);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "k"}).output), kPackets);  // registered last: first
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "b"}).output), 0);
  // The kernel table replaced (a rule added): its chain registers again, still after the link.
  ASSERT_EQ(nft({"add", "rule", "ip", "k", "input", "udp", "dport", "9", "counter"}).status, 0) << daemon_log();
  EXPECT_EQ(delivered(tx1_, kPort), 0);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "k"}).output), 2 * kPackets);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "b"}).output), 0);
}

// A base chain placed in the kernel stays there while it exists, even when it becomes BPF-able (its
// reject rule deleted): its hook is registered in the kernel, which keeps a chain's registration
// (and so its place among chains at its tie) for its lifetime; a BPF link could not take that
// priority from it anyway (EBUSY). Each later commit keeps it there with that reason, without a
// refused attach. Deleted and created again in a later transaction (a new chain), it goes to BPF.
// Verdicts checked against the kernel alone (`unshare -n nft -f` of the same commands): after the
// reject rule is gone the connect succeeds and the datagrams pass; the re-created chain drops.
TEST_F(HybridEndToEnd, AKernelPlacedChainThatBecomesBpfAbleStaysUntilCreatedAgain) {
  const std::string chain = "table ip s {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
                            "  udp dport 5556 counter\n  tcp dport 7777 counter reject with tcp reset\n }\n}\n";
  ASSERT_EQ(nft_file(chain).status, 0) << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "s", "input"), "kernel");
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);
  const long reject = listed_handle(nft({"-a", "list", "table", "ip", "s"}).output, "reject");
  ASSERT_GT(reject, 0);
  ASSERT_EQ(nft({"delete", "rule", "ip", "s", "input", "handle", std::to_string(reject)}).status, 0) << daemon_log();
  nlohmann::json st = status();
  EXPECT_EQ(placed(st, "ip", "s", "input"), "kernel") << st.dump(1);
  EXPECT_NE(st.dump().find("keeps its registration there"), std::string::npos) << st.dump(1);
  EXPECT_EQ(connect_reject_port(), 0);
  EXPECT_EQ(delivered(tx1_, kPort), kPackets);
  // Counted by the kernel's chain (the kernel's own listing holds it) and listed by nfbpfd.
  EXPECT_EQ(tie_count(kernel_ruleset()), kPackets);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "s"}).output), kPackets);
  // Another commit touching it: still the kernel's, no refused attach on the way.
  ASSERT_EQ(nft({"add", "rule", "ip", "s", "input", "udp", "dport", "9", "counter"}).status, 0) << daemon_log();
  EXPECT_EQ(placed(status(), "ip", "s", "input"), "kernel");
  EXPECT_EQ(delivered(tx1_, kPort), kPackets);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "s"}).output), 2 * kPackets);
  EXPECT_EQ(daemon_log().find("offload refused the batch"), std::string::npos) << daemon_log();
  EXPECT_EQ(daemon_log().find("moving that chain"), std::string::npos) << daemon_log();
  // Deleted and created again in one transaction: a new chain, but the old one holds input
  // priority 0 in the kernel until the kernel's part of the batch, after BPF attaches (EBUSY): the
  // new one goes to the kernel with that reason (no refused attach), and stays there.
  const std::string drop = "table ip s {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
                           "  udp dport 5556 counter drop\n }\n}\n";
  const std::string remove = "flush chain ip s input\ndelete chain ip s input\n";
  ASSERT_EQ(nft_file(remove + drop).status, 0) << daemon_log();
  st = status();
  EXPECT_EQ(placed(st, "ip", "s", "input"), "kernel") << st.dump(1);
  EXPECT_NE(st.dump().find("kernel chain ip s input this batch deletes holds input priority 0"), std::string::npos)
      << st.dump(1);
  EXPECT_EQ(delivered(tx1_, kPort), 0);
  EXPECT_EQ(tie_count(kernel_ruleset()), kPackets);
  // Deleted in one transaction, created in the next: placed in BPF, the kernel's chain gone.
  ASSERT_EQ(nft_file(remove).status, 0) << daemon_log();
  ASSERT_EQ(nft_file(drop).status, 0) << daemon_log();
  st = status();
  EXPECT_EQ(placed(st, "ip", "s", "input"), "bpf") << st.dump(1);
  EXPECT_EQ(delivered(tx1_, kPort), 0);
  EXPECT_EQ(tie_count(nft({"list", "table", "ip", "s"}).output), kPackets);
  EXPECT_EQ(kernel_ruleset().find("chain input"), std::string::npos) << kernel_ruleset();
  EXPECT_EQ(daemon_log().find("offload refused the batch"), std::string::npos) << daemon_log();
}

// ---- Persistence: --bpffs, --state-dir, --flush-on-exit (docs/offload.md "Hybrid mode: persistence")
//
// The test process moves into a private mount namespace once (before any thread exists) and
// mounts a bpffs per test under its scratch directory; the daemons it forks share it.
class HybridPersistence : public HybridEndToEnd {
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
    std::error_code ec;
    std::filesystem::remove_all(state_, ec);
  }
  std::vector<std::string> pins() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(bpffs_))
      if (!e.path().filename().string().ends_with(".debug")) out.push_back(e.path().filename());  // bpffs' own
    return out;
  }
  std::string blanked(const std::string& listing) {
    return std::regex_replace(listing, std::regex("packets [0-9]+ bytes [0-9]+"), "packets N bytes M");
  }

  std::string bpffs_, state_;
  bool flush_on_exit_ = false;
};

// SIGKILL: the BPF filter (pinned) and the kernel's reject and nat tables (NFT_TABLE_F_PERSIST,
// orphaned) go on acting on packets and counting; the kernel's own ruleset still holds them.
// A restart with the same directories adopts both sides (the kernel tables as they are: their
// counters, incremented while no daemon ran, are listed); a stop with --flush-on-exit leaves no
// kernel table and no pin, and the filter stops dropping.
TEST_F(HybridPersistence, KillLeavesBothSidesFilteringRestartAdoptsFlushRemovesAll) {
  ASSERT_EQ(nft_file(kRuleset).status, 0) << daemon_log();
  EXPECT_EQ(delivered(tx3_, kPort), 0);            // BPF drop
  EXPECT_EQ(delivered(tx1_, kNatPort), kPackets);  // kernel DNAT
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);  // kernel reject
  Outcome before = nft({"list", "ruleset"});
  ASSERT_EQ(before.status, 0) << before.output;
  ASSERT_FALSE(pins().empty());

  ASSERT_EQ(stop_daemon(SIGKILL), -1);
  // The kernel's own ruleset (nft without nfbpf-run) still has the kernel-placed tables.
  const std::string orphaned = kernel_ruleset();
  EXPECT_NE(orphaned.find("table ip rj"), std::string::npos) << orphaned;
  EXPECT_NE(orphaned.find("dnat to :5556"), std::string::npos) << orphaned;
  EXPECT_EQ(orphaned.find("table inet fw"), std::string::npos) << orphaned;
  EXPECT_EQ(delivered(tx3_, kPort), 0);            // the pinned BPF filter still drops
  EXPECT_EQ(delivered(tx1_, kNatPort), kPackets);  // still DNAT'd (same flow: conntrack), counted by BPF
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);  // a second SYN rejected by the orphaned table

  flush_on_exit_ = true;
  start_daemon();
  ASSERT_FALSE(HasFatalFailure());
  Outcome after = nft({"list", "ruleset"});
  ASSERT_EQ(after.status, 0) << after.output << daemon_log();
  EXPECT_EQ(blanked(after.output), blanked(before.output));
  const std::string& l = after.output;
  // Counters kept on both sides, with what ran while no daemon did.
  EXPECT_NE(l.find("ip saddr 10.99.0.3 udp dport 5556 counter packets 10 bytes 1280 drop"), std::string::npos) << l;
  EXPECT_NE(l.find("udp dport 5556 counter packets 10 bytes 1280\n"), std::string::npos) << l;
  EXPECT_NE(l.find("udp dport 6000 counter packets 1 bytes 128 dnat to :5556"), std::string::npos) << l;
  EXPECT_NE(l.find("tcp dport { 7777, 7779 } counter packets 2 bytes 120 jump refuse"), std::string::npos) << l;
  EXPECT_NE(l.find("counter packets 2 bytes 120 reject with tcp reset"), std::string::npos) << l;
  const std::string log = daemon_log();
  EXPECT_NE(log.find("adopting kernel table ip rj as it is"), std::string::npos) << log;
  EXPECT_NE(log.find("adopting kernel table ip nat as it is"), std::string::npos) << log;
  // The adopted tables are the daemon's again: a change replaces them (counters carried).
  Outcome add = nft({"insert", "rule", "ip", "rj", "input", "tcp", "dport", "7778", "counter", "reject"});
  ASSERT_EQ(add.status, 0) << add.output << daemon_log();
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);
  Outcome rj = nft({"list", "table", "ip", "rj"});
  EXPECT_NE(rj.output.find("tcp dport { 7777, 7779 } counter packets 3 bytes 180 jump refuse"), std::string::npos)
      << rj.output;

  EXPECT_EQ(stop_daemon(SIGTERM), 0);
  EXPECT_EQ(kernel_ruleset(), "");
  EXPECT_TRUE(pins().empty());
  EXPECT_FALSE(std::filesystem::exists(state_ + "/kernel_tables.json"));
  EXPECT_EQ(delivered(tx3_, kPort), kPackets);  // nothing filters any more
}

// An orphan changed while no daemon ran (a rule added with the kernel's own nft) is not adopted as
// it is: the restart replaces it with what the saved ruleset places there, counters carried over.
TEST_F(HybridPersistence, AnOrphanChangedWhileNoDaemonRanIsReplacedWithItsCounters) {
  ASSERT_EQ(nft_file(kRuleset).status, 0) << daemon_log();
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);
  Outcome before = nft({"list", "ruleset"});
  ASSERT_EQ(before.status, 0) << before.output;
  ASSERT_EQ(stop_daemon(SIGKILL), -1);
  Outcome tamper;
  ASSERT_TRUE(ns_->in_receiver([&] { tamper = run_captured({"nft", "add", "rule", "ip", "rj", "input", "tcp", "dport", "9", "drop"}); }));
  ASSERT_EQ(tamper.status, 0) << tamper.output;

  start_daemon();
  ASSERT_FALSE(HasFatalFailure());
  Outcome after = nft({"list", "ruleset"});
  ASSERT_EQ(after.status, 0) << after.output << daemon_log();
  EXPECT_EQ(after.output, before.output);  // counters carried: equal, values included
  const std::string kernel = kernel_ruleset();
  EXPECT_EQ(kernel.find("tcp dport 9 drop"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("counter packets 1 bytes 60 jump refuse"), std::string::npos) << kernel;
  const std::string log = daemon_log();
  EXPECT_EQ(log.find("adopting kernel table ip rj as it is"), std::string::npos) << log;
  EXPECT_NE(log.find("adopting kernel table ip nat as it is"), std::string::npos) << log;
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);
}

// A clean stop without --flush-on-exit leaves both halves running (as strict leaves its pins).
TEST_F(HybridPersistence, SigtermWithoutFlushLeavesBothHalvesFiltering) {
  ASSERT_EQ(nft_file(kRuleset).status, 0) << daemon_log();
  ASSERT_EQ(stop_daemon(SIGTERM), 0);
  const std::string kernel = kernel_ruleset();
  EXPECT_NE(kernel.find("table ip rj"), std::string::npos) << kernel;
  EXPECT_NE(kernel.find("table ip nat"), std::string::npos) << kernel;
  EXPECT_FALSE(pins().empty());
  EXPECT_TRUE(std::filesystem::exists(state_ + "/kernel_tables.json"));
  EXPECT_EQ(delivered(tx3_, kPort), 0);            // BPF drop
  EXPECT_EQ(delivered(tx1_, kNatPort), kPackets);  // kernel DNAT
  EXPECT_EQ(connect_reject_port(), ECONNREFUSED);  // kernel reject
}

}  // namespace
}  // namespace nfbpf::offload
