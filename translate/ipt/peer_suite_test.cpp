// iptables 1.8.9's own extension tests (/work/shared/peer-suites/iptables-1.8.9/extensions/*.t):
// every rule the file expects to be accepted is added with iptables-legacy in a fresh network
// namespace (the kernel's x_tables), captured and lowered. Each must either lower to a table that
// ir::validate accepts or be refused with EOPNOTSUPP (never EINVAL or a crash), and the files of
// the extensions translate/ipt lowers must lower in full except the listed refusals. Prints a
// per-file summary. Root (label root). Skipped files are not an error: the suite is optional.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "translate/ipt/lower.h"
#include "translate/ipt/testing/kernel_capture.h"
#include "translate/ir/validate.h"

namespace nfbpf::translate::ipt {
namespace {

constexpr const char* kSuite = "/work/shared/peer-suites/iptables-1.8.9/extensions/";

struct FileResult {
  int lowered = 0, refused = 0, kernel_refused = 0;
  std::vector<std::string> refusals;
};

FileResult run_file(const std::string& file) {
  FileResult r;
  const bool v6 = file.rfind("libip6t_", 0) == 0;
  std::ifstream in(std::string(kSuite) + file);
  std::string line, table = "filter", chain = "INPUT";
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '*') { table = line.substr(1); continue; }
    if (line[0] == ':') {
      auto comma = line.find(',');
      chain = line.substr(1, comma == std::string::npos ? std::string::npos : comma - 1);
      continue;
    }
    auto semi = line.find(';');
    if (semi == std::string::npos || line.substr(line.rfind(';') + 1) != "OK") continue;
    const std::string rule = line.substr(0, semi);
    const std::string cmd = std::string(v6 ? "ip6tables-legacy" : "iptables-legacy") + " -t " + table + " -A " + chain + " " + rule;
    auto k = testing::capture({.family = v6 ? AF_INET6 : AF_INET, .table = table, .commands = {cmd}});
    if (!k) { ++r.kernel_refused; continue; }
    auto t = lower_ipt_table(k->blob());
    if (t) {
      auto v = ir::validate(*t);
      EXPECT_TRUE(v) << cmd << ": " << v.error().describe();
      ++r.lowered;
    } else {
      EXPECT_EQ(t.error().err, EOPNOTSUPP) << cmd << ": " << t.error().describe();
      ++r.refused;
      r.refusals.push_back(rule + "  =>  " + t.error().msg);
    }
  }
  return r;
}

TEST(IptPeerSuite, ExtensionTestsLowerOrAreRefusedPrecisely) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (label root)";
  if (!std::filesystem::exists(kSuite)) GTEST_SKIP() << "no peer suite at " << kSuite;
  // file -> how many refusals are expected (the rest must lower).
  const std::map<std::string, int> files = {
      {"libxt_tcp.t", 0}, {"libxt_udp.t", 0}, {"libipt_icmp.t", 0}, {"libip6t_icmp6.t", 0},
      {"libxt_multiport.t", 0}, {"libxt_iprange.t", 0}, {"libxt_comment.t", 0}, {"libxt_mark.t", 0},
      {"libxt_state.t", 0}, {"libxt_length.t", 0}, {"libipt_ttl.t", 0}, {"libip6t_hl.t", 0},
      {"libxt_dscp.t", 0}, {"libxt_pkttype.t", 0}, {"libxt_limit.t", 0}, {"libxt_MARK.t", 0},
      {"libipt_LOG.t", 0}, {"libip6t_LOG.t", 0}, {"libxt_standard.t", 0}, {"libip6t_standard.t", 0},
      {"iptables.t", 0}, {"libxt_conntrack.t", -1}, {"libxt_mac.t", -1}, {"libxt_addrtype.t", -1},
      {"libipt_REJECT.t", -1}, {"libxt_NFQUEUE.t", -1}, {"libxt_CT.t", -1}};
  int total_lowered = 0, total_refused = 0;
  for (const auto& [file, expected_refusals] : files) {
    if (!std::filesystem::exists(std::string(kSuite) + file)) continue;
    FileResult r = run_file(file);
    printf("%-22s lowered %3d  refused %3d  (kernel refused %d)\n", file.c_str(), r.lowered, r.refused, r.kernel_refused);
    if (getenv("NFBPF_SHOW_REFUSALS")) {
      for (const auto& s : r.refusals) printf("    %s\n", s.c_str());
    }
    if (expected_refusals >= 0) {
      EXPECT_EQ(r.refused, expected_refusals) << file << ":\n" << ::testing::PrintToString(r.refusals);
    }
    total_lowered += r.lowered;
    total_refused += r.refused;
  }
  printf("total: lowered %d, refused %d\n", total_lowered, total_refused);
  EXPECT_GT(total_lowered, 100);
}

}  // namespace
}  // namespace nfbpf::translate::ipt
