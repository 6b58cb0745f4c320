// Loads, per flavor, a program built from the flavor's packet prologue and a slice of the IP
// header, and runs it with BPF_PROG_TEST_RUN (needs root; nothing is attached).
// glibc's netinet/in.h must precede linux/netfilter.h (which pulls in linux/in.h).
#include <netinet/in.h>
#include <linux/netfilter.h>

#include <gtest/gtest.h>

#include "codegen/emit/disasm.h"
#include "codegen/flavor/packet.h"
#include "codegen/kernel/linux_kernel.h"
#include "codegen/kernel/loader.h"
#include "common/packet/packet.h"

namespace nfbpf::codegen::flavor {
namespace {

// The packet as a test run takes it: bare L3, or wrapped in an Ethernet header.
std::vector<uint8_t> frame(packet::Packet p, bool l2) {
  if (l2) p.ether();
  return p.bytes();
}

using emit::Reg;

// "Drop IPv4, accept everything else (and short or unreadable packets)."
emit::Program drop_ipv4(const FlavorOps& f) {
  emit::Program p(std::string(f.name));
  emit::Label accept(p);
  f.emit_packet_init(p, accept);
  emit_slice(p, f, 0, 20, accept);
  p.ldx(emit::Size::kB, Reg::R1, Reg::R0, 0);
  p.alu(emit::AluOp::kRsh, Reg::R1, 4);
  p.jmp(emit::Cond::kNe, Reg::R1, 4, accept);
  p.ret(f.drop);
  p.bind(accept);
  p.ret(f.accept);
  return p;
}

class FlavorLoad : public ::testing::TestWithParam<Flavor> {};

TEST_P(FlavorLoad, PrologueAndSliceLoadAndRun) {
  const FlavorOps& f = flavor_ops(GetParam());
  kernel::LinuxKernel k;
  emit::Program p = drop_ipv4(f);
  auto prog = kernel::load_program(k, p, {.type = f.prog_type, .expected_attach_type = f.expected_attach_type});
  ASSERT_TRUE(prog.has_value()) << prog.error().describe() << "\n" << emit::disassemble(p);

  auto ip = packet::Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1000, 2000).payload_size(16);
  // Netfilter test runs without ctx_in take a bare IP packet (LOCAL_OUT); the others a frame.
  auto in = frame(ip, f.flavor != Flavor::kNetfilter);
  auto r = prog->test_run({.data_in = in});
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(static_cast<int32_t>(r->retval), f.drop);

  // An IPv6-looking header is accepted (for netfilter only the version nibble changes: a bare
  // packet is always run as IPv4 by test_run).
  auto v6 = ip;
  v6.ip_version(6);
  if (f.flavor != Flavor::kNetfilter) v6.ethertype(packet::ethertype::kIp6);
  auto in6 = v6.bytes();
  r = prog->test_run({.data_in = in6});
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(static_cast<int32_t>(r->retval), f.accept);
}

// A slice past the end of the packet must take the short-packet path.
TEST_P(FlavorLoad, ShortPacketTakesTheShortPath) {
  const FlavorOps& f = flavor_ops(GetParam());
  kernel::LinuxKernel k;
  auto ip = packet::Packet::ipv4("10.0.0.1", "10.0.0.2").udp(1000, 2000).payload_size(16);  // 44 bytes of IP
  auto in = frame(ip, f.flavor != Flavor::kNetfilter);
  for (uint32_t off : {24u, 25u}) {  // [24, 44) fits exactly; [25, 45) does not
    emit::Program p(std::string(f.name));
    emit::Label accept(p);
    f.emit_packet_init(p, accept);
    emit_slice(p, f, off, 20, accept);
    p.ret(f.drop);
    p.bind(accept);
    p.ret(f.accept);
    auto prog = kernel::load_program(k, p, {.type = f.prog_type, .expected_attach_type = f.expected_attach_type});
    ASSERT_TRUE(prog.has_value()) << prog.error().describe();
    auto r = prog->test_run({.data_in = in});
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    EXPECT_EQ(static_cast<int32_t>(r->retval), off == 24 ? f.drop : f.accept) << "offset " << off;
  }
}

INSTANTIATE_TEST_SUITE_P(AllFlavors, FlavorLoad,
                         ::testing::Values(Flavor::kNetfilter, Flavor::kXdp, Flavor::kTcxIngress,
                                           Flavor::kTcxEgress, Flavor::kCgroupSkbIngress,
                                           Flavor::kCgroupSkbEgress),
                         [](const auto& p) { return std::string(flavor_name(p.param)); });

}  // namespace
}  // namespace nfbpf::codegen::flavor
