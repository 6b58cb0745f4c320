// `nfbpf verify` end to end (root: it builds its own scratch namespaces, starts a private nfbpfd,
// sends packets only between its namespaces). Runs the built binary as a user would and reads
// its --json report.
#include <pcap/pcap.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "nfnl-server/cli/verify/packets.h"
#include "nfnl-server/cli/verify/process.h"

namespace nfbpf::verify {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

struct Outcome {
  int status = -1;
  json report;
  std::string err;
};

Outcome verify(std::vector<std::string> args) {
  std::vector<std::string> argv = {NFBPF_BIN, "verify", "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv, RunOptions{.timeout = std::chrono::milliseconds(60000)});
  EXPECT_TRUE(r) << r.error().describe();
  if (!r) return {};
  Outcome o{r->status, json::parse(r->out, nullptr, false), r->err};
  EXPECT_FALSE(o.report.is_discarded()) << r->out << r->err;
  return o;
}

std::set<std::string> work_dirs() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/tmp"))
    if (e.path().filename().string().starts_with("nfbpf-verify-")) out.insert(e.path().filename().string());
  return out;
}

// Work directories (/tmp/nfbpf-verify-*) left behind by this test's run: new since `before` and
// used by no live nfbpfd. Other verify runs on the machine (other sessions, a compat-tests batch)
// hold theirs while they run, each with its nfbpfd on <dir>/nfbpfd.sock; a run that cleaned up
// leaves none.
std::vector<std::string> abandoned_work_dirs(const std::set<std::string>& before) {
  std::string in_use;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmdline(e.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (args.find("nfbpfd") != std::string::npos) in_use += args + "\n";
  }
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/tmp")) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("nfbpf-verify-") && !before.contains(name) &&
        in_use.find(e.path().string() + "/") == std::string::npos)
      out.push_back(name);
  }
  return out;
}

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/verify-root-test-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

const std::string kMigration = std::string(NFBPF_SOURCE_DIR) + "/docs/migration/";

// A realistic ruleset nfbpf runs whole: everything offloaded, listings identical, every probe and
// generic packet counted alike by every rule, and the probes really exercise the ruleset.
TEST(VerifyRoot, WebServerRulesetAgrees) {
  const auto before = work_dirs();
  auto o = verify({kMigration + "web-server.nft"});
  ASSERT_EQ(o.status, 0) << o.report.dump(1);
  EXPECT_EQ(o.report["status"], "equal");
  EXPECT_TRUE(o.report["listing_identical"].get<bool>());
  EXPECT_EQ(o.report["summary"]["refused"], 0);
  EXPECT_EQ(o.report["summary"]["offloaded"], 11);
  EXPECT_GE(o.report["summary"]["exercised"].get<int>(), 7);
  EXPECT_GE(o.report["packets"]["probes"].get<int>(), 100);
  EXPECT_TRUE(o.report["mismatches"].empty());
  // The per-rule counters are real: the policy counter saw packets on both sides.
  for (const auto& r : o.report["rules"])
    if (r["text"].get<std::string>().find("dropped by policy") != std::string::npos) {
      EXPECT_GT(r["kernel"][0].get<int>(), 0);
      EXPECT_EQ(r["kernel"], r["nfbpf"]);
    }
  // Nothing was left behind (the work directory under /tmp is removed).
  EXPECT_THAT(abandoned_work_dirs(before), ::testing::IsEmpty());
}

// The test-only fault switch flips one rule's verdict in nfbpfd's compiled program: verify must
// exit 1 and name the packet, the rule that decided on each side and both verdicts.
TEST(VerifyRoot, CatchesAFlippedVerdict) {
  const std::string path = write_temp(
      "table inet t {\n chain input {\n  type filter hook input priority filter; policy drop;\n"
      "  tcp dport 22 accept\n  tcp dport { 80, 443 } accept comment \"FAULT\"\n  udp dport 53 drop\n }\n}\n");
  auto o = verify({path, "--test-fault", "flip-verdict:FAULT", "--max-named", "3"});
  unlink(path.c_str());
  ASSERT_EQ(o.status, 1) << o.report.dump(1);
  EXPECT_EQ(o.report["status"], "mismatch");
  ASSERT_EQ(o.report["mismatches"].size(), 3u);
  for (const auto& m : o.report["mismatches"]) {
    EXPECT_THAT(m["packet"].get<std::string>(), HasSubstr("tcp"));
    EXPECT_THAT(m["packet"].get<std::string>(), ::testing::AnyOf(HasSubstr(":80"), HasSubstr(":443"), HasSubstr("hop-by-hop")));
    EXPECT_EQ(m["kernel"]["verdict"], "accept");
    EXPECT_EQ(m["nfbpf"]["verdict"], "drop");
    EXPECT_THAT(m["kernel"]["decided_by"].get<std::string>(), HasSubstr("comment \"FAULT\""));
    EXPECT_THAT(m["nfbpf"]["decided_by"].get<std::string>(), HasSubstr("comment \"FAULT\""));
    EXPECT_FALSE(m["frame"].get<std::string>().empty());
  }
  // Without the fault the same ruleset agrees: the mismatch came from the fault alone.
  const std::string again = write_temp(
      "table inet t {\n chain input {\n  type filter hook input priority filter; policy drop;\n"
      "  tcp dport 22 accept\n  tcp dport { 80, 443 } accept comment \"FAULT\"\n  udp dport 53 drop\n }\n}\n");
  auto clean = verify({again});
  unlink(again.c_str());
  EXPECT_EQ(clean.status, 0) << clean.report.dump(1);
}

// Refusals are per object: the nat chains and the reject rule are named with nfbpfd's reasons,
// everything else still runs and is compared (exit 1 because of the refusals only).
TEST(VerifyRoot, RouterRefusalsAreNamedAndTheRestCompared) {
  auto o = verify({kMigration + "router.nft"});
  ASSERT_EQ(o.status, 1) << o.report.dump(1);
  EXPECT_EQ(o.report["status"], "refused");
  std::vector<std::string> refused;
  for (const auto& r : o.report["rules"])
    if (!r["offloaded"].get<bool>()) {
      refused.push_back(r["key"]);
      EXPECT_FALSE(r["reason"].get<std::string>().empty());
    }
  EXPECT_THAT(refused, ::testing::UnorderedElementsAre("inet router input#5", "ip nat prerouting#0", "ip nat postrouting#0"));
  for (const auto& r : o.report["rules"]) {
    if (r["key"] == "inet router input#5") {
      EXPECT_THAT(r["reason"].get<std::string>(), HasSubstr("reject"));
    }
    if (r["key"] == "ip nat prerouting#0") {
      EXPECT_THAT(r["reason"].get<std::string>(), HasSubstr("type nat"));
    }
  }
  EXPECT_TRUE(o.report["mismatches"].empty());
  EXPECT_EQ(o.report["summary"]["counters_differ"], 0);
  EXPECT_GT(o.report["packets"]["probes"].get<int>(), 50);
}

// Forward chains: every packet is also routed through both sides; forward rules are exercised and a
// flipped verdict there is caught too.
TEST(VerifyRoot, ForwardChainsAreExercised) {
  const std::string text =
      "table ip f {\n chain through {\n  type filter hook forward priority filter; policy drop;\n"
      "  tcp dport 80 accept comment \"WEB\"\n  udp dport 53 counter\n }\n}\n";
  const std::string path = write_temp(text);
  auto o = verify({path});
  ASSERT_EQ(o.status, 0) << o.report.dump(1);
  EXPECT_EQ(o.report["packets"]["paths"], json::array({"local", "forward"}));
  EXPECT_GT(o.report["packets"]["forwarded_kernel"].get<int>(), 0);
  EXPECT_EQ(o.report["packets"]["forwarded_kernel"], o.report["packets"]["forwarded_nfbpf"]);
  for (const auto& r : o.report["rules"]) EXPECT_GT(r["kernel"][0].get<int>(), 0) << r["key"];
  auto bad = verify({path, "--test-fault", "flip-verdict:WEB", "--max-named", "1"});
  unlink(path.c_str());
  ASSERT_EQ(bad.status, 1) << bad.report.dump(1);
  ASSERT_EQ(bad.report["mismatches"].size(), 1u);
  EXPECT_THAT(bad.report["mismatches"][0]["source"].get<std::string>(), HasSubstr("(forwarded)"));
  EXPECT_EQ(bad.report["mismatches"][0]["kernel"]["verdict"], "accept");
  EXPECT_EQ(bad.report["mismatches"][0]["nfbpf"]["verdict"], "drop");
}

// An iptables-save file (detected as such) through iptables-legacy-restore on both sides.
TEST(VerifyRoot, IptablesFilterTableAgrees) {
  const std::string path = write_temp(
      "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SVC - [0:0]\n"
      "-A INPUT -s 192.0.2.0/24 -j SVC\n-A INPUT -d 198.51.100.2/32 -j ACCEPT\n"
      "-A SVC -d 198.51.100.0/24 -j DROP\n-A SVC -j ACCEPT\nCOMMIT\n");
  auto o = verify({path});
  unlink(path.c_str());
  ASSERT_EQ(o.report["format"], "iptables") << o.report.dump(1);
  EXPECT_EQ(o.status, 0) << o.report.dump(1);
  EXPECT_EQ(o.report["summary"]["offloaded"], 4);
  EXPECT_GE(o.report["summary"]["exercised"].get<int>(), 3);
}

// ip6tables-save output is told apart by its IPv6 addresses and goes through ip6tables-legacy.
TEST(VerifyRoot, Ip6tablesDetectedAndAgrees) {
  const std::string path = write_temp(
      "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      "-A INPUT -s 2001:db8::/64 -p udp -m udp --dport 53 -j ACCEPT\n-A INPUT -p ipv6-icmp -j ACCEPT\nCOMMIT\n");
  auto o = verify({path});
  unlink(path.c_str());
  ASSERT_EQ(o.report["format"], "ip6tables") << o.report.dump(1);
  EXPECT_EQ(o.status, 0) << o.report.dump(1);
  for (const auto& r : o.report["rules"]) EXPECT_GT(r["kernel"][0].get<int>(), 0) << r["key"];
}

// A capture is streamed and capped: --max-packets bounds what is replayed.
TEST(VerifyRoot, ReplaysACaptureUpToMaxPackets) {
  char path[] = "/tmp/verify-root-pcap-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, path);
  auto g = generic_packets();
  for (int i = 0; i < 300; ++i) {
    const auto& f = g[static_cast<size_t>(i) % g.size()].frame;
    pcap_pkthdr h{};
    h.caplen = h.len = static_cast<uint32_t>(f.size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
  }
  pcap_dump_close(d);
  pcap_close(dead);
  auto o = verify({kMigration + "web-server.nft", "--pcap", path, "--max-packets", "250"});
  unlink(path);
  ASSERT_EQ(o.status, 0) << o.report.dump(1);
  EXPECT_EQ(o.report["packets"]["pcap"], 250);
  EXPECT_TRUE(o.report["packets"]["pcap_truncated"].get<bool>());
  // Every replayed packet reached the hooks on the kernel side (probes + generic + capture).
  EXPECT_EQ(o.report["packets"]["arrived_kernel"].get<int>(),
            o.report["packets"]["probes"].get<int>() + o.report["packets"]["generic"].get<int>() + 250);
}

// A ruleset the kernel itself refuses: verify could not run (2), and says why.
TEST(VerifyRoot, KernelRefusalIsExitTwo) {
  const std::string path = write_temp("table inet t {\n chain c {\n  tcp dport 99999 accept\n }\n}\n");
  auto o = verify({path});
  unlink(path.c_str());
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(o.report["status"], "error");
  EXPECT_THAT(o.report["error"].get<std::string>(), HasSubstr("kernel refuses"));
}

// SIGINT in the middle: exit 2, the private nfbpfd is gone, the work directory removed.
TEST(VerifyRoot, InterruptCleansUp) {
  const auto before = work_dirs();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(NFBPF_BIN, NFBPF_BIN, "verify", "--json", (kMigration + "router.nft").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto children = [](pid_t parent) {
    std::vector<std::pair<pid_t, std::string>> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::ifstream stat(e.path() / "stat");
      std::string pidtxt, comm, state;
      pid_t ppid = 0;
      if (stat >> pidtxt >> comm >> state >> ppid && ppid == parent) out.emplace_back(std::stoi(pidtxt), comm);
    }
    return out;
  };
  // Mid-run (the router takes seconds: refusals are found one object at a time), nfbpfd is up.
  std::vector<std::pair<pid_t, std::string>> kids;
  for (int i = 0; i < 100 && kids.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (const auto& k : children(pid))
      if (k.second == "(nfbpfd)") kids.push_back(k);
  }
  ASSERT_FALSE(kids.empty()) << "no private nfbpfd seen";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 2);
  EXPECT_THAT(abandoned_work_dirs(before), ::testing::IsEmpty());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (const auto& [kid, comm] : kids) {
    std::ifstream c("/proc/" + std::to_string(kid) + "/comm");
    std::string now;
    c >> now;
    EXPECT_NE("(" + now + ")", comm) << "nfbpfd " << kid << " outlived the interrupted verify";
  }
}

}  // namespace
}  // namespace nfbpf::verify
