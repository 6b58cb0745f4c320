// `nfbpf verify --batch` end to end (root: scratch namespaces, a private nfbpfd, packets only
// between its namespaces): one testbed, a stream of requests, one reply per request.
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "nfnl-server/cli/verify/process.h"

namespace nfbpf::verify {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/verify-batch-test-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

// Runs `nfbpf verify --batch ARGS` on the requests; the replies, the ready line first.
std::vector<json> batch(const std::vector<json>& requests, std::vector<std::string> args = {}) {
  std::vector<std::string> argv = {NFBPF_BIN, "verify", "--batch"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string in;
  for (const auto& r : requests) in += r.dump() + "\n";
  auto r = run(argv, RunOptions{.stdin_text = in, .timeout = std::chrono::milliseconds(60000)});
  EXPECT_TRUE(r) << r.error().describe();
  if (!r) return {};
  EXPECT_EQ(r->status, 0) << r->err;
  std::vector<json> out;
  std::istringstream lines(r->out);
  std::string line;
  while (std::getline(lines, line)) out.push_back(json::parse(line, nullptr, false));
  return out;
}

const char* kRuleset =
    "table inet t {\n chain input {\n  type filter hook input priority filter; policy drop;\n"
    "  tcp dport 22 accept\n  tcp dport { 80, 443 } accept comment \"%s\"\n  udp dport 53 drop\n }\n}\n";

std::string ruleset(const std::string& comment) {
  std::string s = kRuleset;
  s.replace(s.find("%s"), 2, comment);
  return s;
}

// compat-tests' shape of an experiment: the rule in a prerouting chain between a sentinel chain and
// a tail counter; `comment` goes on the rule under test.
json experiment(const std::string& rule) {
  const std::string t = "ip exp";
  const std::string setup = "add table " + t + "\n" +
                            "add chain " + t + " vhead { type filter hook prerouting priority -150; }\n"
                            "add chain " + t + " probe { type filter hook prerouting priority 0; }\n"
                            "add chain " + t + " vtail { type filter hook prerouting priority 150; }\n"
                            "add rule " + t + " vhead ip saddr 192.0.2.222 ip daddr 192.0.2.223 udp dport 9 counter drop\n"
                            "add rule " + t + " vhead counter\n"
                            "add rule " + t + " vtail counter\n";
  const json spec = {"add", "rule", "ip", "exp", "probe"};
  json with_counter = spec, plain = spec, tail = spec;
  with_counter.push_back(rule + " counter");
  plain.push_back(rule);
  tail.push_back("counter");
  return {{"kind", "experiment"},
          {"id", rule},
          {"load", {{{"stage", "setup"}, {"stdin", setup}},
                    {{"stage", "rule"}, {"alternatives", {with_counter, plain}}},
                    {{"stage", "setup"}, {"args", tail}}}},
          {"probes", {{"ip", "exp", "probe"}}},
          {"counters", {"ip", "exp"}},
          {"sentinel", "ipv4"},
          {"sentinel_key", "vhead#0.0"},
          {"arrival_key", "vhead#1.0"}};
}

// Two rulesets on one testbed with the fault switch on: the one without the FAULT comment agrees,
// the one with it is caught — each request is verified on its own (the first one's tables are
// gone when the second is loaded). Then compat-tests' experiments: an equal one, a faulty one
// whose differing probes are named, and a rule the kernel refuses.
TEST(VerifyBatch, TwoRulesetsAndExperimentsOnOneTestbed) {
  const std::string good = write_temp(ruleset("WEB")), bad = write_temp(ruleset("FAULT"));
  auto replies = batch({{{"kind", "verify"}, {"ruleset", good}, {"id", 1}},
                        {{"kind", "verify"}, {"ruleset", bad}, {"id", 2}},
                        experiment("tcp dport 80 accept comment \"OK\""),
                        experiment("tcp dport 80 drop comment \"FAULT\""),
                        experiment("tcp dport 80 nosuchthing")},
                       {"--test-fault", "flip-verdict:FAULT", "--max-named", "2"});
  unlink(good.c_str());
  unlink(bad.c_str());
  ASSERT_EQ(replies.size(), 6u);
  EXPECT_EQ(replies[0]["ready"], true);

  EXPECT_EQ(replies[1]["id"], 1);
  EXPECT_EQ(replies[1]["status"], "equal") << replies[1].dump(1);
  EXPECT_EQ(replies[1]["exit"], 0);
  EXPECT_EQ(replies[1]["summary"]["offloaded"], 3);
  EXPECT_GE(replies[1]["summary"]["exercised"].get<int>(), 2);

  EXPECT_EQ(replies[2]["id"], 2);
  EXPECT_EQ(replies[2]["status"], "mismatch") << replies[2].dump(1);
  EXPECT_EQ(replies[2]["exit"], 1);
  ASSERT_EQ(replies[2]["mismatches"].size(), 2u);
  for (const auto& m : replies[2]["mismatches"]) {
    EXPECT_EQ(m["kernel"]["verdict"], "accept");
    EXPECT_EQ(m["nfbpf"]["verdict"], "drop");
    EXPECT_THAT(m["nfbpf"]["decided_by"].get<std::string>(), HasSubstr("FAULT"));
  }

  const json& ok = replies[3];
  EXPECT_EQ(ok["status"], "equal") << ok.dump(1);
  EXPECT_EQ(ok["alternative"], 1);  // a rule ending in a verdict refuses the appended counter
  EXPECT_GT(ok["rule_probes"].get<int>(), 0);
  EXPECT_EQ(ok["probes"].get<int>(), ok["rule_probes"].get<int>() + 38);  // + the generic packets
  EXPECT_GT(ok["arrived"].get<int>(), 0);
  // The rule's own counter (probe#0.0 is the rule's appended/inserted counter: here the chain's
  // fall-through counter at probe#1.0) moved: the probes reached it.
  EXPECT_GT(ok["kernel"]["probe#1.0"][0].get<int>(), 0);

  const json& faulty = replies[4];
  EXPECT_EQ(faulty["status"], "mismatch") << faulty.dump(1);
  ASSERT_FALSE(faulty["differing_probes"].empty());
  for (const auto& p : faulty["differing_probes"]) {
    EXPECT_FALSE(p["frame"].get<std::string>().empty());
    EXPECT_NE(p["kernel"], p["nfbpf"]);
  }
  // The kernel drops at the rule (vtail sees nothing); nfbpf's flipped rule accepts, so vtail counts.
  EXPECT_NE(faulty["kernel"]["vtail#0.0"], faulty["nfbpf"]["vtail#0.0"]);

  EXPECT_EQ(replies[5]["status"], "kernel-refused");
  EXPECT_EQ(replies[5]["stage"], "rule");
}

// A bad request gets an error reply and the batch goes on.
TEST(VerifyBatch, BadRequestsAreAnsweredAndTheBatchGoesOn) {
  auto replies = batch({{{"kind", "nosuch"}}, {{"kind", "restart"}, {"id", "r"}}});
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[1]["status"], "error");
  EXPECT_THAT(replies[1]["error"].get<std::string>(), HasSubstr("unknown request kind"));
  EXPECT_EQ(replies[2]["status"], "ok");
  EXPECT_EQ(replies[2]["id"], "r");
}

// compat-tests' iptables experiment (ipt_verdicts.experiment_request): the nft sentinel table, the
// rule appended to FORWARD, a bare -A FORWARD; probes from the kernel's filter table; the forward path.
json ipt_experiment(const std::string& family, const std::string& rule) {
  const bool v6 = family == "ip6";
  const std::string tool = v6 ? "ip6tables-legacy" : "iptables-legacy";
  const std::string sentinel =
      "add table inet s\n"
      "add chain inet s vhead { type filter hook prerouting priority -150; }\n"
      "add chain inet s vtail { type filter hook forward priority 150; }\n"
      "add rule inet s vhead ip saddr 192.0.2.222 ip daddr 192.0.2.223 udp dport 9 counter drop\n"
      "add rule inet s vhead ip6 saddr 2001:db8:ffff::222 ip6 daddr 2001:db8:ffff::223 udp dport 9 counter drop\n"
      "add rule inet s vhead counter\n"
      "add rule inet s vtail counter\n";
  return {{"kind", "experiment"},
          {"id", family + " " + rule},
          {"path", "forward"},
          {"load", {{{"stage", "setup"}, {"stdin", sentinel}},
                    {{"stage", "rule"}, {"program", "sh"}, {"args", {"-c", "exec " + tool + " -t filter -A FORWARD " + rule}}},
                    {{"stage", "setup"}, {"program", tool}, {"args", {"-t", "filter", "-A", "FORWARD"}}}}},
          {"xt_probes", {family, "filter"}},
          {"counters", "ruleset"},
          {"xt_counters", {tool, "filter"}},
          {"ignore", {"policy INPUT", "policy OUTPUT"}},
          {"sentinel", v6 ? "ipv6" : "ipv4"},
          {"sentinel_key", v6 ? "inet s vhead#1.0" : "inet s vhead#0.0"},
          {"arrival_key", "inet s vhead#2.0"}};
}

std::set<std::string> keys_of(const json& counters) {
  std::set<std::string> out;
  for (const auto& [k, v] : counters.items()) out.insert(k);
  return out;
}

// iptables rulesets in a row on one testbed, both families: each experiment sees its own rule and
// nothing of the previous one (the batch empties every x_tables table of both sides between
// requests; without that the second rule would be appended after the first's, FORWARD#2 appears
// and the first's DROP eats the UDP probes).
TEST(VerifyBatch, IptablesExperimentsInARowDoNotSeeEachOther) {
  // Then `nfbpf verify` of an iptables-save file on the same testbed (the first two experiments'
  // DROPs would eat its UDP probes: its udp rule must count them).
  const std::string save = write_temp(
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      "-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p udp --dport 53 -j DROP\nCOMMIT\n");
  auto replies = batch({ipt_experiment("ip", "-p udp -j DROP"), ipt_experiment("ip6", "-p udp -j DROP"),
                        ipt_experiment("ip", "-p tcp --dport 80 -j ACCEPT"),
                        ipt_experiment("ip6", "-p tcp --dport 80 -j ACCEPT"),
                        {{"kind", "verify"}, {"ruleset", save}, {"id", "save"}}});
  unlink(save.c_str());
  ASSERT_EQ(replies.size(), 6u);
  const json v = replies.back();  // a copy: pop_back ends the element
  replies.pop_back();
  EXPECT_EQ(v["status"], "equal") << v.dump(1);
  EXPECT_EQ(v["format"], "iptables");
  ASSERT_EQ(v["rules"].size(), 2u);
  for (const auto& rule : v["rules"]) EXPECT_GT(rule["kernel"][0].get<int>(), 0) << rule.dump();
  const std::set<std::string> expected = {"FORWARD#0", "FORWARD#1", "policy FORWARD", "inet s vhead#0.0",
                                          "inet s vhead#1.0", "inet s vhead#2.0", "inet s vtail#0.0"};
  for (size_t i = 1; i < replies.size(); ++i) {
    const json& r = replies[i];
    EXPECT_EQ(r["status"], "equal") << r.dump(1);
    EXPECT_GT(r["rule_probes"].get<int>(), 0) << r["id"];
    std::set<std::string> keys = keys_of(r["kernel"]);
    keys.insert(r["id"].get<std::string>().starts_with("ip6") ? "inet s vhead#1.0" : "inet s vhead#0.0");  // the sentinel
    EXPECT_EQ(keys, expected) << r["id"] << ": " << r["kernel"].dump();
    EXPECT_GT(r["kernel"]["FORWARD#0"][0].get<int>(), 0) << r["id"] << ": the rule saw no packet";
  }
  // The UDP drops are gone: the 17 generic UDP packets of the family get through the second
  // pair's FORWARD to its fall-through rule.
  for (size_t i : {3u, 4u}) EXPECT_GT(replies[i]["kernel"]["FORWARD#1"][0].get<int>(), 16) << replies[i].dump(1);
}

// The frames a side sends back, IPv4 id and checksum zeroed (per-namespace counters).
std::multiset<std::string> comparable(const json& frames) {
  std::multiset<std::string> out;
  for (const auto& f : frames) {
    std::string h = f.get<std::string>();
    if (h.size() >= 68 && h.substr(24, 4) == "0800") {
      h.replace(28 + 8, 4, "0000");   // identification
      h.replace(28 + 20, 4, "0000");  // header checksum
    }
    out.insert(h);
  }
  return out;
}

// Reply capture (compat-tests --replies): a `reject with tcp reset` rule (hybrid: its chain runs in
// the kernel of nfbpfd's namespace) answers the TCP probes with resets; the frames arriving back
// at the sender are captured on both sides and are the same frames.
TEST(VerifyBatch, RepliesOfARejectAreCapturedOnBothSidesAndEqual) {
  json req = experiment("tcp dport 80 reject with tcp reset");
  req["path"] = "replies";
  req["replies"] = json::object();
  req["placement"] = {"ip", "exp", "probe"};
  req["probe_fallback"] = {{"family", "ip"}, {"rule", "tcp dport 80"}};
  req["generic_only_ok"] = true;
  auto replies = batch({req}, {"--offload", "hybrid", "--in-dev", "eth0"});
  ASSERT_EQ(replies.size(), 2u);
  const json& r = replies[1];
  EXPECT_EQ(r["status"], "equal") << r.dump(1);
  EXPECT_EQ(r["placement"], "kernel");
  EXPECT_EQ(r["match_only_probes"], true);
  ASSERT_TRUE(r.contains("replies")) << r.dump(1);
  size_t resets = 0;
  for (const auto& f : r["replies"]["kernel"]) {
    const std::string h = f.get<std::string>();
    // IPv4 (ethertype 0800), protocol 6, TCP flags with RST (0x04) at 14 + 20 + 13.
    if (h.size() >= 2 * 54 && h.substr(24, 4) == "0800" && h.substr(2 * 23, 2) == "06" &&
        (std::stoi(h.substr(2 * 47, 2), nullptr, 16) & 0x04))
      ++resets;
  }
  EXPECT_GT(resets, 0u) << r["replies"].dump(1);
  EXPECT_EQ(comparable(r["replies"]["kernel"]), comparable(r["replies"]["nfbpf"]));
}

json verify(std::vector<std::string> args, int want_status) {
  std::vector<std::string> argv = {NFBPF_BIN, "verify", "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv, RunOptions{.timeout = std::chrono::milliseconds(60000)});
  EXPECT_TRUE(r) << r.error().describe();
  if (!r) return {};
  json j = json::parse(r->out, nullptr, false);
  EXPECT_EQ(r->status, want_status) << r->out << r->err;
  return j;
}

// A `reject` rule (a BPF netfilter program cannot send the ICMP error) beside ordinary rules.
const char* kHybridRuleset =
    "table inet h {\n chain input {\n  type filter hook input priority filter; policy accept;\n"
    "  tcp dport 22 accept\n  udp dport 33434-33534 reject\n  udp dport 53 drop\n }\n}\n"
    "table ip o {\n chain out {\n  type filter hook output priority filter; policy accept;\n"
    "  tcp dport 25 drop comment \"SMTP\"\n  udp dport 123 counter accept\n }\n}\n";

// Hybrid (the daemon's default mode): nothing is refused; the chain holding the reject runs in the
// kernel of nfbpfd's namespace, the others as BPF; the report says so per rule and still compares
// every rule's counters — the kernel-placed ones included.
TEST(VerifyHybrid, RulesBpfCannotRunGoToTheKernelAndAreStillCompared) {
  const std::string path = write_temp(kHybridRuleset);
  json strict = verify({path}, 1);
  EXPECT_EQ(strict["status"], "refused");
  json o = verify({path, "--offload", "hybrid"}, 0);
  unlink(path.c_str());
  EXPECT_EQ(o["status"], "equal") << o.dump(1);
  EXPECT_EQ(o["offload_mode"], "hybrid");
  EXPECT_EQ(o["summary"]["refused"], 0);
  EXPECT_EQ(o["summary"]["runs"]["kernel"], 3);
  EXPECT_EQ(o["summary"]["runs"]["bpf"], 2);
  for (const auto& r : o["rules"]) {
    const std::string key = r["key"];
    EXPECT_EQ(r["runs"], key.starts_with("inet h input") ? "kernel" : "bpf") << key;
    EXPECT_EQ(r["kernel"], r["nfbpf"]) << key;
    // A rule in the kernel-placed chain is exercised (the reject itself gets no boundary probes:
    // the translator refuses it, and no generic packet goes to its ports).
    if (key == "inet h input#2") {
      EXPECT_GT(r["kernel"][0].get<int>(), 0) << "udp dport 53 saw no packet";
    }
  }
}

// Output chains: every packet is also sent by each side's own stack; output rules are exercised,
// and a flipped verdict there is caught on a packet the host sent.
TEST(VerifyOutput, OutputChainsSeeLocallySentPackets) {
  const std::string path = write_temp(
      "table ip o {\n chain out {\n  type filter hook output priority filter; policy accept;\n"
      "  tcp dport 25 drop comment \"SMTP\"\n  udp dport 123 counter accept\n }\n}\n");
  json o = verify({path}, 0);
  EXPECT_EQ(o["status"], "equal") << o.dump(1);
  EXPECT_EQ(o["packets"]["paths"], json::array({"local", "output"}));
  EXPECT_GT(o["packets"]["output_accepted_kernel"].get<int>(), 0);
  EXPECT_EQ(o["packets"]["output_accepted_kernel"], o["packets"]["output_accepted_nfbpf"]);
  for (const auto& r : o["rules"]) EXPECT_GT(r["kernel"][0].get<int>(), 0) << r["key"] << " saw no packet";
  json bad = verify({path, "--test-fault", "flip-verdict:SMTP", "--max-named", "1"}, 1);
  unlink(path.c_str());
  EXPECT_EQ(bad["status"], "mismatch");
  ASSERT_EQ(bad["mismatches"].size(), 1u) << bad.dump(1);
  const json& m = bad["mismatches"][0];
  EXPECT_THAT(m["source"].get<std::string>(), HasSubstr("(sent by the host)"));
  EXPECT_THAT(m["packet"].get<std::string>(), HasSubstr(":25"));
  EXPECT_EQ(m["kernel"]["verdict"], "drop");
  EXPECT_EQ(m["nfbpf"]["verdict"], "accept");
}

}  // namespace
}  // namespace nfbpf::verify
