// nft exthdr fields (IPv6 extension headers, TCP options, SCTP chunks) on every hook flavor:
// each case x op variant through BPF_PROG_TEST_RUN and the reference evaluator, with the
// boundary probes eval::match_probes makes (value +-1, header absent, behind other headers,
// other protocol, non-first fragment) plus hand-made packets that stress the walks (many
// extension headers, AH, zero-length and overlong options, options in the last byte, truncated
// headers, chunk chains, zero-length chunks). Verdicts must be equal, and every case must be
// seen both matching and missing.
#include <gtest/gtest.h>

#include <bpf/bpf.h>

#include <map>

#include "codegen/emit/disasm.h"
#include "codegen/matcher/match.h"
#include "codegen/runtime_tests/cases.h"
#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using ir::Bytes;
using packet::Packet;

ir::Field ext(ir::ExtHdrOp op, uint8_t type, uint32_t off, uint32_t len, bool present = false) {
  ir::Field f{.base = ir::Base::kExtHdr, .offset = off, .len = len, .key = static_cast<uint8_t>(op)};
  f.ext_type = type;
  f.ext_present = present;
  return f;
}

struct ExtCase {
  std::string name;
  ir::Family family;
  ir::Field field;
  Bytes value;
  std::vector<OpVariant> ops;
};

const std::vector<ExtCase>& ext_cases() {
  using O = OpVariant;
  using E = ir::ExtHdrOp;
  static const std::vector<ExtCase> cases = {
      {"hbh nexthdr", ir::Family::kIp6, ext(E::kIpv6, 0, 0, 1), {22}, {O::kEq, O::kNe, O::kRange, O::kInSet}},
      {"dst hdrlength", ir::Family::kInet, ext(E::kIpv6, 60, 1, 1), {2}, {O::kEq, O::kNotRange, O::kNotInSet}},
      {"frag frag-off", ir::Family::kIp6, ext(E::kIpv6, 44, 2, 2), {0x00, 0xb0}, {O::kEq, O::kMaskedEq}},
      {"frag id", ir::Family::kIp6, ext(E::kIpv6, 44, 4, 4), {0, 0, 0, 33}, {O::kEq, O::kRange}},
      {"rt segments-left", ir::Family::kIp6, ext(E::kIpv6, 43, 3, 1), {5}, {O::kEq}},
      {"ah spi", ir::Family::kIp6, ext(E::kIpv6, 51, 4, 4), {0, 0, 1, 0}, {O::kEq}},
      {"dst 16 bytes", ir::Family::kIp6, ext(E::kIpv6, 60, 8, 16), Bytes(16, 0x11), {O::kEq}},
      {"exthdr hbh exists", ir::Family::kIp6, ext(E::kIpv6, 0, 0, 1, true), {1}, {O::kEq, O::kInSet}},
      {"exthdr hbh missing", ir::Family::kInet, ext(E::kIpv6, 0, 0, 1, true), {0}, {O::kEq}},
      {"exthdr frag exists", ir::Family::kIp6, ext(E::kIpv6, 44, 0, 1, true), {1}, {O::kEq}},
      {"exthdr rt exists", ir::Family::kIp6, ext(E::kIpv6, 43, 0, 1, true), {1}, {O::kEq}},
      {"exthdr mh exists", ir::Family::kIp6, ext(E::kIpv6, 135, 0, 1, true), {1}, {O::kEq}},
      {"tcp option maxseg size", ir::Family::kInet, ext(E::kTcpOpt, 2, 2, 2), {0x05, 0xb4}, {O::kEq, O::kLt, O::kGe, O::kInIntervalSet}},
      {"tcp option maxseg length", ir::Family::kIp, ext(E::kTcpOpt, 2, 1, 1), {4}, {O::kEq}},
      {"tcp option window count", ir::Family::kIp6, ext(E::kTcpOpt, 3, 2, 1), {7}, {O::kEq, O::kGt}},
      {"tcp option timestamp tsval", ir::Family::kInet, ext(E::kTcpOpt, 8, 2, 4), {0, 0, 0, 1}, {O::kEq}},
      {"tcp option sack3 right", ir::Family::kInet, ext(E::kTcpOpt, 5, 30, 4), {0, 0, 0, 1}, {O::kEq}},
      {"tcp option @255,8,8", ir::Family::kInet, ext(E::kTcpOpt, 255, 1, 1), {2}, {O::kEq}},
      {"tcp option sack-perm exists", ir::Family::kInet, ext(E::kTcpOpt, 4, 0, 1, true), {1}, {O::kEq}},
      {"tcp option 255 missing", ir::Family::kInet, ext(E::kTcpOpt, 255, 0, 1, true), {0}, {O::kEq}},
      {"tcp option nop exists", ir::Family::kIp, ext(E::kTcpOpt, 1, 0, 1, true), {1}, {O::kEq}},
      {"tcp option eol exists", ir::Family::kIp6, ext(E::kTcpOpt, 0, 0, 1, true), {1}, {O::kEq}},
      {"sctp chunk data exists", ir::Family::kInet, ext(E::kSctp, 0, 0, 1, true), {1}, {O::kEq}},
      {"sctp chunk init num-outbound-streams", ir::Family::kInet, ext(E::kSctp, 1, 12, 2), {0, 3}, {O::kEq, O::kRange}},
      {"sctp chunk init-ack length", ir::Family::kIp, ext(E::kSctp, 2, 2, 2), {0, 42}, {O::kEq}},
      {"sctp chunk shutdown cum-tsn-ack", ir::Family::kIp6, ext(E::kSctp, 7, 4, 4), {0, 0, 0xff, 0xff}, {O::kEq}},
  };
  return cases;
}

// Packets the walks must get right beyond the generated boundaries.
std::vector<std::pair<std::string, Packet>> walk_packets() {
  std::vector<std::pair<std::string, Packet>> v;
  auto v6 = [] { return Packet::ipv6("2001:db8::1", "2001:db8::2"); };
  auto v4 = [] { return Packet::ipv4("192.0.2.1", "198.51.100.2"); };
  Bytes tcp_opts = {1, 1, 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 3, 3, 7};
  v.push_back({"v6 hbh dst rt frag dst tcp+opts",
               v6().hop_by_hop().dest_opts().routing(0, 5).fragment(0, true).dest_opts().tcp(1, 2).tcp_options(tcp_opts)});
  {
    Packet p = v6();
    for (int i = 0; i < 15; ++i) p.dest_opts();
    v.push_back({"v6 15 dst then hbh", p.hop_by_hop(Bytes(14, 0x11)).tcp(1, 2)});
  }
  v.push_back({"v6 ah dst (ah walked through)", v6().ext_header(51, Bytes(15, 0)).dest_opts(Bytes(14, 0x11)).udp(1, 2)});
  v.push_back({"v6 non-first frag, hbh behind", v6().fragment(64, false).hop_by_hop().tcp(1, 2)});
  v.push_back({"v6 first frag, hbh behind", v6().fragment(0, true).hop_by_hop().tcp(1, 2).tcp_options({4, 2})});
  v.push_back({"v6 mh", v6().l4(135, Bytes(16, 0))});
  v.push_back({"v6 hbh truncated", v6().hop_by_hop(Bytes(30, 0)).tcp(1, 2).truncate(44)});
  v.push_back({"v6 rt 2 bytes left", v6().routing(0, 5).udp(1, 2).truncate(42)});
  v.push_back({"tcp zero-length option then mss", v4().tcp(1, 2).tcp_options({30, 0, 1, 2, 4, 0x05, 0xb4})});
  v.push_back({"tcp mss overruns header", v4().tcp(1, 2).tcp_options({1, 1, 2, 10, 0x05, 0xb4})});
  {
    Bytes nops(39, 1);
    nops.push_back(4);  // a kind in the last byte is never examined
    v.push_back({"tcp 39 nops then sack-perm kind in the last byte", v4().tcp(1, 2).tcp_options(nops)});
    Bytes nops2(38, 1);
    nops2.push_back(4);
    nops2.push_back(2);
    v.push_back({"tcp 38 nops then sack-perm", v6().tcp(1, 2).tcp_options(nops2)});
    Bytes sack = {1, 1, 5, 34};
    sack.resize(36, 0);
    sack[35] = 1;
    v.push_back({"tcp sack with 4 blocks", v4().tcp(1, 2).tcp_options(sack)});
  }
  v.push_back({"tcp header truncated", v4().tcp(1, 2).tcp_options({2, 4, 0x05, 0xb4, 3, 3, 7, 0}).truncate(40)});
  v.push_back({"tcp doff 4", v4().tcp(1, 2).tcp_options({2, 4, 0x05, 0xb4}).tcp_doff(4)});
  v.push_back({"tcp window then eol", v6().tcp(1, 2).tcp_options({3, 3, 7, 0})});
  v.push_back({"ipv4 non-first fragment tcp", v4().fragment(64, false).tcp(1, 2).tcp_options({2, 4, 0x05, 0xb4})});
  v.push_back({"sctp data init shutdown",
               v4().sctp(1, 2, 3).sctp_chunk(0, 0, Bytes(12, 0)).sctp_chunk(1, 0, {0, 0, 0, 1, 0, 0, 1, 0, 0, 3, 0, 3, 0, 0, 0, 5}).sctp_chunk(7, 0, {0, 0, 0xff, 0xff})});
  v.push_back({"sctp zero-length chunk", v6().sctp(1, 2, 3).sctp_chunk(3, 0, Bytes(4, 0)).payload({0, 0, 0, 0, 1, 0, 0, 20})});
  v.push_back({"sctp init truncated", v4().sctp(1, 2, 3).sctp_chunk(1, 0, Bytes(16, 0)).truncate(20 + 12 + 8)});
  {
    Packet p = v4().sctp(1, 2, 3);
    for (int i = 0; i < 15; ++i) p.sctp_chunk(9, 0, {});
    v.push_back({"sctp 15 chunks then init-ack", p.sctp_chunk(2, 0, Bytes(40, 0))});
  }
  return v;
}

class ExtHdrTable : public ::testing::TestWithParam<Flavor> {};

TEST_P(ExtHdrTable, BpfAgreesWithTheEvaluator) {
  Flavor f = GetParam();
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  std::map<std::string, std::pair<int, int>> outcomes;
  int ran = 0;
  for (const ExtCase& ec : ext_cases()) {
    for (OpVariant op : ec.ops) {
      MatcherCase mc = expand(BaseCase{ec.name, ec.family, {ec.field}, ec.value}, op, f);
      mc.table.chains[0].base->hook = hook_for(f);
      auto supported = matcher::match_supported(flavor::flavor_ops(f), mc.table, mc.match, rt->nfct_offset.has_value());
      ASSERT_TRUE(supported.has_value()) << mc.name << ": " << supported.error().describe();
      auto run = ChainRun::create(k, *rt, mc.table, "c", f);
      ASSERT_TRUE(run.has_value()) << mc.name << " at " << flavor::flavor_name(f) << ": " << run.error().describe();
      eval::ProbeOptions opt;
      opt.ctx = context_for(f, hook_for(f), false, 0);
      auto probes = eval::match_probes(mc.table, mc.match, opt);
      ASSERT_TRUE(probes.has_value()) << mc.name << ": " << probes.error().describe();
      std::vector<TestPacket> pkts;
      for (const auto& pr : *probes) pkts.push_back(packet_of(pr));
      std::vector<std::string> names;
      for (const auto& pr : *probes) names.push_back(pr.describe());
      for (auto& [name, pk] : walk_packets()) {
        if (l2_flavor(f)) pk.ether();
        pkts.push_back(TestPacket{pk.bytes(), static_cast<uint32_t>(pk.l2_len()), pk.is_ipv6()});
        names.push_back(name);
      }
      for (size_t i = 0; i < pkts.size(); ++i) {
        if (!run->applies(pkts[i]) || !run->runnable(pkts[i])) continue;
        auto got = run->run_both(pkts[i]);
        ASSERT_TRUE(got.has_value()) << mc.name << " / " << names[i] << ": " << got.error().describe();
        EXPECT_EQ(verdict_name(got->first), verdict_name(got->second))
            << mc.name << " at " << flavor::flavor_name(f) << ": " << names[i] << " (bpf, eval)";
        auto& oc = outcomes[mc.name];
        (got->second == ir::VerdictKind::kAccept ? oc.first : oc.second)++;
      }
      ++ran;
    }
  }
  for (const auto& [name, oc] : outcomes) {
    EXPECT_GT(oc.first, 0) << name << " never matched at " << flavor::flavor_name(f);
    EXPECT_GT(oc.second, 0) << name << " never missed at " << flavor::flavor_name(f);
  }
  EXPECT_GT(ran, 30);
}

// What the unrolled walks cost the verifier (bpf_prog_info.verified_insns) and the program, one
// rule and five rules per chain at netfilter; printed for docs/codegen.md, bounded so a change
// that makes verification superlinear fails here instead of in the verifier's 1M budget.
TEST(ExtHdrCost, VerificationStaysLinearInTheRules) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  const ir::Field baseline = ir::Field{.base = ir::Base::kNetwork, .offset = 6, .len = 1};
  struct Row { std::string name; ir::Field f; Bytes v; };
  std::vector<Row> rows = {{"ip6 nexthdr (payload, baseline)", baseline, {6}}};
  for (const ExtCase& ec : ext_cases())
    if (ec.name == "hbh nexthdr" || ec.name == "tcp option maxseg size" || ec.name == "sctp chunk init-ack length" ||
        ec.name == "exthdr frag exists")
      rows.push_back({ec.name, ec.field, ec.value});
  for (const Row& row : rows) {
    uint32_t one = 0;
    for (int rules : {1, 5}) {
      ir::Table t{.family = ir::Family::kInet, .name = "t"};
      ir::Chain c{.name = "c", .base = ir::BaseHook{.hook = ir::Hook::kInput}, .policy = ir::VerdictKind::kAccept};
      for (int i = 0; i < rules; ++i) {
        Bytes v = row.v;
        v.back() = static_cast<uint8_t>(v.back() + i);
        // A first match of its own keeps consecutive rules from sharing one load of the field:
        // each rule walks.
        c.rules.push_back(ir::Rule{.handle = static_cast<uint64_t>(i + 1),
                                   .steps = {ir::Match{.key = {baseline}, .op = ir::Op::kNe, .value = {255}},
                                             ir::Match{.key = {row.f}, .op = ir::Op::kEq, .value = v}},
                                   .verdict = ir::Verdict{ir::VerdictKind::kDrop, {}}});
      }
      t.chains.push_back(std::move(c));
      auto run = ChainRun::create(k, *rt, t, "c", Flavor::kNetfilter);
      ASSERT_TRUE(run.has_value()) << row.name << ": " << run.error().describe();
      bpf_prog_info info{};
      uint32_t len = sizeof info;
      ASSERT_EQ(bpf_obj_get_info_by_fd(run->loaded().prog.fd(), &info, &len), 0);
      std::printf("%-32s %2d rule(s): %6u insns, %7u verified\n", row.name.c_str(), rules,
                  run->compiled().program.pc(), info.verified_insns);
      if (rules == 1) {
        one = info.verified_insns;
        EXPECT_LT(one, 100000u) << row.name;
      } else {
        // Later rules are verified once per way the earlier walks can end: ~1.4x the first one.
        EXPECT_LT(info.verified_insns, 8 * one) << row.name << ": grows faster than the rules";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Flavors, ExtHdrTable, ::testing::ValuesIn(kAllFlavors),
                         [](const ::testing::TestParamInfo<Flavor>& p) { return std::string(flavor::flavor_name(p.param)); });

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
