// A hand-emitted netfilter program that drops one IPv4 source address and counts what it drops,
// run with BPF_PROG_TEST_RUN on every NF_INET hook (needs root; nothing is attached).
// glibc's netinet/in.h must precede linux/netfilter.h (which pulls in linux/in.h).
#include <netinet/in.h>
#include <linux/netfilter.h>

#include <arpa/inet.h>

#include <gtest/gtest.h>

#include "codegen/abi/netfilter.h"
#include "codegen/emit/disasm.h"
#include "codegen/flavor/packet.h"
#include "codegen/kernel/linux_kernel.h"
#include "codegen/kernel/loader.h"
#include "common/packet/packet.h"
#include "codegen/runtime/counters.h"

namespace nfbpf::codegen::flavor {
namespace {

// The packet as a test run takes it: bare L3, or wrapped in an Ethernet header.
std::vector<uint8_t> frame(packet::Packet p, bool l2) {
  if (l2) p.ether();
  return p.bytes();
}

using emit::Reg;

constexpr uint32_t kDropSlot = 3;

emit::Program drop_saddr(const char* saddr) {
  const FlavorOps& f = flavor_ops(Flavor::kNetfilter);
  uint32_t be = 0;
  inet_pton(AF_INET, saddr, &be);  // network order in memory == what a u32 load yields
  emit::Program p("drop_saddr");
  emit::MapRef counters = p.map(runtime::kCountersMapName);
  emit::Label accept(p);
  f.emit_packet_init(p, accept);
  emit_slice(p, f, 12, 4, accept);  // ip saddr
  p.ldx(emit::Size::kW, Reg::R1, Reg::R0, 0);
  p.jmp32(emit::Cond::kNe, Reg::R1, static_cast<int32_t>(be), accept);
  runtime::emit_count(p, counters, kDropSlot);
  p.ret(f.drop);
  p.bind(accept);
  p.ret(f.accept);
  return p;
}

struct NetfilterDropSaddr : ::testing::Test {
  kernel::LinuxKernel k;
  std::optional<runtime::CounterTable> counters;
  std::optional<kernel::Prog> prog;
  void SetUp() override {
    auto t = runtime::CounterTable::create(k, 8);
    ASSERT_TRUE(t.has_value()) << t.error().describe();
    counters.emplace(std::move(*t));
    emit::Program p = drop_saddr("192.168.1.1");
    const FlavorOps& f = flavor_ops(Flavor::kNetfilter);
    auto pr = kernel::load_program(k, p, {.type = f.prog_type, .expected_attach_type = f.expected_attach_type},
                                   {{std::string(runtime::kCountersMapName), &counters->map()}});
    ASSERT_TRUE(pr.has_value()) << pr.error().describe() << "\n" << emit::disassemble(p);
    prog.emplace(std::move(*pr));
  }
};

TEST_F(NetfilterDropSaddr, DropsOnlyTheSourceAddressWithoutCtx) {
  auto bad = packet::Packet::ipv4("192.168.1.1", "10.0.0.2").udp(1000, 2000).payload_size(32);
  auto good = packet::Packet::ipv4("192.168.1.2", "10.0.0.2").udp(1000, 2000).payload_size(32);
  auto r = prog->test_run({.data_in = bad.bytes(), .repeat = 5});
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->retval, static_cast<uint32_t>(NF_DROP));
  r = prog->test_run({.data_in = good.bytes(), .repeat = 5});
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->retval, static_cast<uint32_t>(NF_ACCEPT));
  auto c = counters->read(kDropSlot);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->packets, 5u);
  EXPECT_EQ(c->bytes, 5u * bad.bytes().size());  // L3 length: the IP packet
  EXPECT_EQ(counters->read(0)->packets, 0u);
}

TEST_F(NetfilterDropSaddr, DropsOnEveryHookWithCtx) {
  auto bad = packet::Packet::ipv4("192.168.1.1", "10.0.0.2").udp(1000, 2000).payload_size(32);
  auto good = packet::Packet::ipv4("10.1.1.1", "10.0.0.2").udp(1000, 2000).payload_size(32);
  uint64_t expected_packets = 0;
  for (uint8_t hook : {NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT,
                       NF_INET_POST_ROUTING}) {
    abi::NfHookStateIn st{};
    st.hook = hook;
    st.pf = NFPROTO_IPV4;
    std::span<const uint8_t> ctx(reinterpret_cast<const uint8_t*>(&st), sizeof st);
    // Every hook but LOCAL_OUT wants an Ethernet frame (test_run strips the header).
    auto bad_in = frame(bad, hook != NF_INET_LOCAL_OUT);
    auto good_in = frame(good, hook != NF_INET_LOCAL_OUT);
    auto r = prog->test_run({.data_in = bad_in, .ctx_in = ctx});
    ASSERT_TRUE(r.has_value()) << "hook " << int(hook) << ": " << r.error().describe();
    EXPECT_EQ(r->retval, static_cast<uint32_t>(NF_DROP)) << "hook " << int(hook);
    ++expected_packets;
    r = prog->test_run({.data_in = good_in, .ctx_in = ctx});
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    EXPECT_EQ(r->retval, static_cast<uint32_t>(NF_ACCEPT)) << "hook " << int(hook);
  }
  auto c = counters->read(kDropSlot);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->packets, expected_packets);
  EXPECT_EQ(c->bytes, expected_packets * bad.bytes().size());
}

// A subprogram reads the packet through the caller's dynptr (PacketRef) and counts with the
// caller's L3 length: the convention for splitting long chains into subprograms.
TEST_F(NetfilterDropSaddr, SubprogramUsesTheCallersDynptr) {
  const FlavorOps& f = flavor_ops(Flavor::kNetfilter);
  emit::Program p("subprog_drop");
  emit::MapRef ctr = p.map(runtime::kCountersMapName);
  emit::Label accept(p), sub(p);
  f.emit_packet_init(p, accept);
  p.mov(Reg::R1, emit::kFrame);
  p.alu(emit::AluOp::kAdd, Reg::R1, emit::kDynptrOff);
  p.call_local(sub);
  p.exit();  // the subprogram's verdict
  if (accept.referenced()) {  // netfilter's prologue cannot fail: no dead code for the verifier
    p.bind(accept);
    p.ret(f.accept);
  }
  p.bind(sub);  // r1 = &dynptr in the caller's frame
  {
    emit::Label sub_accept(p);
    PacketRef pkt = PacketRef::at(Reg::R6);
    p.mov(Reg::R6, Reg::R1);
    emit_slice(p, f, 12, 4, sub_accept, pkt);
    p.ldx(emit::Size::kW, Reg::R1, Reg::R0, 0);
    p.jmp32(emit::Cond::kNe, Reg::R1, 0x0101a8c0, sub_accept);  // 192.168.1.1
    runtime::emit_count(p, ctr, 5, pkt);
    p.ret(f.drop);
    p.bind(sub_accept);
    p.ret(f.accept);
  }
  auto pr = kernel::load_program(k, p, {.type = f.prog_type, .expected_attach_type = f.expected_attach_type},
                                 {{std::string(runtime::kCountersMapName), &counters->map()}});
  ASSERT_TRUE(pr.has_value()) << pr.error().describe() << "\n" << emit::disassemble(p);
  auto bad = packet::Packet::ipv4("192.168.1.1", "10.0.0.2").udp(1000, 2000).payload_size(40);
  auto good = packet::Packet::ipv4("192.168.1.9", "10.0.0.2").udp(1000, 2000).payload_size(40);
  EXPECT_EQ(pr->test_run({.data_in = bad.bytes(), .repeat = 3})->retval, static_cast<uint32_t>(NF_DROP));
  EXPECT_EQ(pr->test_run({.data_in = good.bytes()})->retval, static_cast<uint32_t>(NF_ACCEPT));
  auto c = counters->read(5);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->packets, 3u);
  EXPECT_EQ(c->bytes, 3u * bad.bytes().size());
}

// The kSkbDirect slow path (bytes beyond the linear head go through a dynptr): test_run skbs are
// linear, so the head length is shrunk by hand to 20 after the prologue. Constant and variable
// offsets must read the same bytes as the fast path, and reads past the end must fail.
TEST(NetfilterSkbDirect, SlowPathReadsThroughDynptr) {
  const FlavorOps& f = flavor_ops(Flavor::kNetfilter);
  ASSERT_EQ(f.packet_mode, PacketMode::kSkbDirect);
  kernel::LinuxKernel k;
  auto pkt = packet::Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1000, 2000).payload_size(16);  // 44 bytes
  for (bool shrink : {false, true}) {
    for (int variant = 0; variant < 3; ++variant) {
      emit::Program p("slow_path");
      emit::Label accept(p);
      f.emit_packet_init(p, accept);
      if (shrink) p.st(emit::Size::kDW, emit::kFrame, emit::kHeadLenOff, 20);
      if (variant == 0) {
        emit_slice(p, f, 22, 2, accept);  // udp dport, constant offset
      } else if (variant == 1) {
        p.mov(Reg::R7, 20);               // "ihl * 4"
        emit_slice_at(p, f, Reg::R7, 2, 2, accept);
      } else {
        emit_slice(p, f, 30, 16, accept);  // [30, 46) is past the end: must fail
        p.ret(f.drop);
      }
      if (variant < 2) {
        p.ldx(emit::Size::kH, Reg::R1, Reg::R0, 0);
        p.jmp(emit::Cond::kNe, Reg::R1, htons(2000), accept);
        p.ret(f.drop);
      }
      p.bind(accept);
      p.ret(f.accept);
      auto prog = kernel::load_program(k, p, {.type = f.prog_type, .expected_attach_type = f.expected_attach_type});
      ASSERT_TRUE(prog.has_value()) << prog.error().describe() << "\n" << emit::disassemble(p);
      auto r = prog->test_run({.data_in = pkt.bytes()});
      ASSERT_TRUE(r.has_value()) << r.error().describe();
      EXPECT_EQ(r->retval, static_cast<uint32_t>(variant < 2 ? NF_DROP : NF_ACCEPT))
          << "shrink " << shrink << " variant " << variant;
    }
  }
}

// IPv6 at every hook (ctx pf = NFPROTO_IPV6, Ethernet frame but at LOCAL_OUT): a program that
// drops UDP to port 2000 reads the next header at 6 and the port at 40 + 2.
TEST(NetfilterIpv6, DropsUdpPortOnEveryHook) {
  const FlavorOps& f = flavor_ops(Flavor::kNetfilter);
  kernel::LinuxKernel k;
  emit::Program p("v6_udp_port");
  emit::Label accept(p);
  f.emit_packet_init(p, accept);
  emit_slice(p, f, 0, 44, accept);
  p.ldx(emit::Size::kB, Reg::R1, Reg::R0, 6);
  p.jmp(emit::Cond::kNe, Reg::R1, 17, accept);
  p.ldx(emit::Size::kH, Reg::R1, Reg::R0, 42);
  p.jmp(emit::Cond::kNe, Reg::R1, htons(2000), accept);
  p.ret(f.drop);
  p.bind(accept);
  p.ret(f.accept);
  auto prog = kernel::load_program(k, p, {.type = f.prog_type, .expected_attach_type = f.expected_attach_type});
  ASSERT_TRUE(prog.has_value()) << prog.error().describe();
  auto hit = packet::Packet::ipv6("2001:db8::1", "2001:db8::2").udp(1000, 2000).payload_size(16);
  auto miss = packet::Packet::ipv6("2001:db8::1", "2001:db8::2").udp(1000, 2001).payload_size(16);
  for (uint8_t hook : {NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT,
                       NF_INET_POST_ROUTING}) {
    abi::NfHookStateIn st{};
    st.hook = hook;
    st.pf = NFPROTO_IPV6;
    std::span<const uint8_t> ctx(reinterpret_cast<const uint8_t*>(&st), sizeof st);
    auto hit_in = frame(hit, hook != NF_INET_LOCAL_OUT);
    auto miss_in = frame(miss, hook != NF_INET_LOCAL_OUT);
    auto r = prog->test_run({.data_in = hit_in, .ctx_in = ctx});
    ASSERT_TRUE(r.has_value()) << "hook " << int(hook) << ": " << r.error().describe();
    EXPECT_EQ(r->retval, static_cast<uint32_t>(NF_DROP)) << "hook " << int(hook);
    r = prog->test_run({.data_in = miss_in, .ctx_in = ctx});
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    EXPECT_EQ(r->retval, static_cast<uint32_t>(NF_ACCEPT)) << "hook " << int(hook);
  }
}

}  // namespace
}  // namespace nfbpf::codegen::flavor
