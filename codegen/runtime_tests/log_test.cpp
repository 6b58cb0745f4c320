// The log statement: the record each flavor's program writes into the log ring (read back here
// with libbpf's ring_buffer, as nfbpfd does), the verdict it leaves alone, and where it is refused.
#include <bpf/libbpf.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "codegen/abi/log_event.h"
#include "codegen/chain/log.h"
#include "codegen/runtime_tests/harness.h"
#include "common/packet/packet.h"
#include "translate/ir/build.h"

namespace nfbpf::codegen::runtime_tests {
namespace {

using ir::KnownField;
using ir::VerdictKind;
namespace b = ir::build;

std::vector<abi::LogEvent> drain(chain::RuntimeTables& rt) {
  std::vector<abi::LogEvent> out;
  if (!rt.log_ring) return out;
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    auto* v = static_cast<std::vector<abi::LogEvent>*>(ctx);
    abi::LogEvent e{};
    std::memcpy(&e, data, std::min(size, sizeof e));
    v->push_back(e);
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(rt.log_ring->fd(), cb, &out, nullptr);
  if (!rb) return out;
  ring_buffer__consume(rb);
  ring_buffer__free(rb);
  return out;
}

// base chain: [udp] log ... ; jump sub (sub: log again) ; policy drop. Both records, verdict drop
// (the policy): log changes nothing.
ir::Table logging_table(ir::Family fam, ir::Hook hook, const ir::Log& lg) {
  ir::Table t{.family = fam, .name = "t"};
  ir::Chain base{.name = "c", .handle = 1, .base = ir::BaseHook{.hook = hook}, .policy = VerdictKind::kDrop};
  base.rules.push_back(ir::Rule{.handle = 2, .steps = {b::eq(KnownField::kMetaL4Proto, b::u8(17)), lg}, .verdict = ir::Verdict{}});
  base.rules.push_back(ir::Rule{.handle = 3, .steps = {}, .verdict = ir::Verdict{.kind = ir::VerdictKind::kJump, .chain = "sub"}});
  ir::Chain sub{.name = "sub", .handle = 4};
  ir::Log again = lg;
  again.prefix = "sub: ";
  sub.rules.push_back(ir::Rule{.handle = 5, .steps = {again}, .verdict = ir::Verdict{}});
  t.chains.push_back(std::move(base));
  t.chains.push_back(std::move(sub));
  return t;
}

TEST(LogStatement, RecordsThePacketAndLeavesTheVerdict) {
  kernel::LinuxKernel k;
  auto rt = chain::RuntimeTables::create(k);
  ASSERT_TRUE(rt.has_value()) << rt.error().describe();
  ir::Log lg{.prefix = "nft-test: ", .level = 6, .flags = abi::kLogTcpSeq | abi::kLogUid};
  auto pk = packet::Packet::ipv4("10.1.2.30", "10.1.2.40");
  pk.udp(1000, 53).payload(std::vector<uint8_t>(20, 0x78));
  std::vector<uint8_t> l3 = pk.bytes();
  for (Flavor f : kAllFlavors) {
    ir::Table t = logging_table(family_for(f, ir::Family::kIp), hook_for(f), lg);
    auto run = ChainRun::create(k, *rt, t, "c", f);
    if (f == Flavor::kXdp) {
      ASSERT_FALSE(run.has_value());
      EXPECT_EQ(run.error().err, EOPNOTSUPP);
      EXPECT_NE(run.error().describe().find("log"), std::string::npos) << run.error().describe();
      continue;
    }
    ASSERT_TRUE(run.has_value()) << flavor::flavor_name(f) << ": " << run.error().describe();
    drain(*rt);
    auto v = run->run_bpf(TestPacket{l3, 0, false});
    ASSERT_TRUE(v.has_value()) << v.error().describe();
    EXPECT_EQ(verdict_name(*v), verdict_name(VerdictKind::kDrop)) << flavor::flavor_name(f);
    auto evs = drain(*rt);
    ASSERT_EQ(evs.size(), 2u) << flavor::flavor_name(f);
    const abi::LogEvent& e = evs[0];
    EXPECT_EQ(e.magic, abi::kLogEventMagic);
    EXPECT_EQ(e.level, 6);
    EXPECT_EQ(e.flags, abi::kLogTcpSeq | abi::kLogUid);
    EXPECT_EQ(std::string(e.prefix, e.prefix_len), "nft-test: ");
    EXPECT_EQ(std::string(evs[1].prefix, evs[1].prefix_len), "sub: ");
    // The network header onwards, as the program saw it.
    ASSERT_EQ(e.data_len, l3.size()) << flavor::flavor_name(f);
    EXPECT_EQ(std::vector<uint8_t>(e.data, e.data + e.data_len), l3) << flavor::flavor_name(f);
    if (f == Flavor::kNetfilter) {
      EXPECT_EQ(e.pf, 2);
    }
    EXPECT_EQ(e.have_uid, 0);  // test runs: no socket with a struct socket
  }
}

}  // namespace
}  // namespace nfbpf::codegen::runtime_tests
