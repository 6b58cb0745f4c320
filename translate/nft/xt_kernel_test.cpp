// iptables-nft rules whose extensions travel as nft_compat `match`/`target` expressions lower to
// the same IR as the same rules under iptables-legacy: each rule is added with iptables-nft and
// with iptables-legacy in the kernel (inside unshare(CLONE_NEWNET)), the nf_tables rule is dumped
// over netlink and lowered by translate/nft, the x_tables entry is captured and lowered by
// translate/ipt, both go through the pass pipeline, and every step the legacy rule has (its
// counter aside) must appear, printed identically, in the nft rule. Root.
#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "translate/ipt/testing/kernel_capture.h"
#include "translate/ir/printer.h"
#include "translate/nft/lower.h"
#include "translate/passes/pipeline.h"

namespace nfbpf::translate {
namespace {

// The rules under test (iptables syntax, appended to INPUT). Each uses an extension iptables-nft
// sends as an xt match or target (or translates natively: then both IRs must still agree).
const std::vector<std::string> kRules = {
    "-m comment --comment hello -j ACCEPT",
    "-m limit --limit 3/min --limit-burst 7",
    "-m state --state ESTABLISHED,RELATED -j ACCEPT",
    "-m conntrack --ctstate NEW,INVALID -j DROP",
    "-m conntrack --ctstatus ASSURED",
    "-m mark --mark 0x5/0xff",
    "-m iprange --src-range 10.0.0.1-10.0.0.9",
    "-m length --length 100:200",
    "-m ttl --ttl-gt 5",
    "-m dscp --dscp 0x0a",
    "-m pkttype --pkt-type broadcast",
    "-j LOG --log-prefix in: --log-level 6",
    "-j MARK --set-xmark 0x10/0xf0",
};

// Steps of each rule of INPUT, as printed, counters dropped (iptables-nft adds a counter
// expression where the legacy walk adds the entry's counter).
using RuleSteps = std::vector<std::vector<std::string>>;

RuleSteps steps_of(const ir::Table& t) {
  RuleSteps out;
  for (const ir::Chain& c : t.chains) {
    if (c.name != "INPUT") continue;
    for (const ir::Rule& r : c.rules) {
      std::vector<std::string> s;
      for (const ir::Step& st : r.steps) {
        if (std::holds_alternative<ir::Counter>(st)) continue;
        s.push_back(ir::to_string(st));
      }
      s.push_back("-> " + ir::to_string(r.verdict));
      // (The comment match's text is not compared: the nft rule's IR comment comes from its
      // userdata, and iptables-nft lists the xt comment from the stored blob anyway.)
      out.push_back(std::move(s));
    }
  }
  return out;
}

// In a child in a fresh network namespace: iptables-nft adds the rules, INPUT is dumped, lowered
// and printed one step per line ("@rule" between rules) into a pipe.
std::string nft_side() {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    FILE* out = fdopen(fds[1], "w");
    if (unshare(CLONE_NEWNET) != 0) _exit(2);
    for (const std::string& r : kRules) {
      const std::string cmd = "iptables-nft -w -A INPUT " + r + " >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) {
        std::fprintf(out, "iptables-nft failed: %s\n", r.c_str());
        _exit(1);
      }
    }
    mnl_socket* nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) _exit(2);
    std::vector<char> buf(1 << 16);
    nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
    h->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    h->nlmsg_seq = 1;
    auto* g = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(nfgenmsg)));
    g->nfgen_family = NFPROTO_IPV4;
    g->version = NFNETLINK_V0;
    mnl_attr_put_strz(h, NFTA_RULE_TABLE, "filter");
    mnl_attr_put_strz(h, NFTA_RULE_CHAIN, "INPUT");
    if (mnl_socket_sendto(nl, h, h->nlmsg_len) < 0) _exit(2);
    ir::Table t{.family = ir::Family::kIp, .name = "filter"};
    t.chains.push_back(ir::Chain{.name = "INPUT"});
    struct State { ir::Table* t; FILE* out; } st{&t, out};
    auto cb = [](const nlmsghdr* m, void* data) -> int {
      auto* s = static_cast<State*>(data);
      nftnl_rule* r = nftnl_rule_alloc();
      if (nftnl_rule_nlmsg_parse(m, r) >= 0) {
        nft::LowerContext ctx{.family = ir::Family::kIp, .table = "filter", .chain = "INPUT",
                              .rule_handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE)};
        auto lowered = nft::lower_rule(r, ctx);
        if (!lowered) std::fprintf(s->out, "refused: %s\n", lowered.error().describe().c_str());
        else s->t->chains[0].rules.push_back(std::move(*lowered));
      }
      nftnl_rule_free(r);
      return MNL_CB_OK;
    };
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
      if (n <= 0) break;
      const int r = mnl_cb_run(buf.data(), size_t(n), 1, mnl_socket_get_portid(nl), cb, &st);
      if (r <= MNL_CB_STOP) break;
    }
    mnl_socket_close(nl);
    if (auto p = passes::run_pipeline(t); !p) std::fprintf(out, "pipeline: %s\n", p.error().describe().c_str());
    for (const auto& rule : steps_of(t)) {
      std::fprintf(out, "@rule\n");
      for (const auto& s : rule) std::fprintf(out, "%s\n", s.c_str());
    }
    std::fclose(out);
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char b[4096];
  ssize_t n;
  while ((n = read(fds[0], b, sizeof(b))) > 0) text.append(b, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return text;
}

RuleSteps parse(const std::string& text, std::string* errors) {
  RuleSteps out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line == "@rule") out.emplace_back();
    else if (!out.empty()) out.back().push_back(line);
    else *errors += line + "\n";
  }
  return out;
}

TEST(XtThroughNft, SameIrAsLegacy) {
  // The rules are compared one by one as lowered; prune_rules would rightly drop every rule after
  // the first (an unconditional ACCEPT) on both sides.
  ::setenv("NFBPF_PRUNE", "0", 1);
  std::string errors;
  const RuleSteps nft = parse(nft_side(), &errors);
  ASSERT_TRUE(errors.empty()) << errors;

  ipt::testing::CaptureRequest req{.family = AF_INET, .table = "filter"};
  for (const std::string& r : kRules) req.commands.push_back("iptables-legacy -A INPUT " + r);
  auto cap = ipt::testing::capture(req);
  ASSERT_TRUE(cap) << cap.error().describe();
  auto lowered = ipt::lower_ipt_table(cap->blob());
  ASSERT_TRUE(lowered) << lowered.error().describe();
  ASSERT_TRUE(passes::run_pipeline(*lowered));
  RuleSteps legacy = steps_of(*lowered);
  // The legacy walk ends INPUT with its underflow entry (the policy rule): not one of ours.
  ASSERT_EQ(legacy.size(), kRules.size() + 1);
  legacy.pop_back();

  ASSERT_EQ(nft.size(), kRules.size());
  for (size_t i = 0; i < kRules.size(); ++i) {
    for (const std::string& s : legacy[i]) {
      EXPECT_NE(std::find(nft[i].begin(), nft[i].end(), s), nft[i].end())
          << "rule `" << kRules[i] << "`: the legacy step «" << s << "» is missing from the nft rule:\n"
          << [&] { std::string all; for (auto& x : nft[i]) all += "  " + x + "\n"; return all; }();
    }
  }
}

}  // namespace
}  // namespace nfbpf::translate
