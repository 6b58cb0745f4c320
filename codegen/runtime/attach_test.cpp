// End-to-end attach tests in scratch namespaces (needs root): two fresh netns joined by veth,
// programs attached in the receiver's namespace only, UDP traffic from the sender's.
// glibc's netinet/in.h must precede linux/netfilter.h (which pulls in linux/in.h).
#include <netinet/in.h>
#include <linux/netfilter.h>

#include <arpa/inet.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <fstream>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "codegen/abi/netfilter.h"
#include "codegen/emit/disasm.h"
#include "codegen/flavor/load.h"
#include "codegen/flavor/packet.h"
#include "codegen/kernel/linux_kernel.h"
#include "codegen/kernel/loader.h"
#include "codegen/kernel/testing/netns_pair.h"
#include "codegen/runtime/counters.h"
#include "codegen/runtime/dispatcher.h"

namespace nfbpf::codegen::runtime {
namespace {

using emit::Reg;
using flavor::AttachPoint;
using flavor::Flavor;
using flavor::FlavorOps;
using testing::NetnsPair;

constexpr uint16_t kPort = 5000;
constexpr size_t kPayload = 32;
constexpr uint64_t kIpLen = 20 + 8 + kPayload;

// Packets from `saddr` are counted in `slots` and get `verdict`; the rest is accepted uncounted
// (L2 flavors also see the sender's IPv6 neighbour discovery, which must not be counted).
emit::Program make_chain(const FlavorOps& f, std::string name, std::vector<uint32_t> slots,
                         const char* saddr, int32_t verdict) {
  emit::Program p(std::move(name));
  emit::MapRef counters = p.map(kCountersMapName);
  emit::Label accept(p);
  f.emit_packet_init(p, accept);
  uint32_t be = 0;
  inet_pton(AF_INET, saddr, &be);
  flavor::emit_slice(p, f, 12, 4, accept);
  p.ldx(emit::Size::kW, Reg::R1, Reg::R0, 0);
  p.jmp32(emit::Cond::kNe, Reg::R1, static_cast<int32_t>(be), accept);
  for (uint32_t s : slots) emit_count(p, counters, s);
  p.ret(verdict);
  p.bind(accept);
  p.ret(f.accept);
  return p;
}

struct NetnsAttach : ::testing::Test {
  kernel::LinuxKernel k;
  std::optional<NetnsPair> ns;
  std::optional<CounterTable> counters;
  Fd rx, tx;

  void SetUp() override {
    auto n = NetnsPair::create();
    ASSERT_TRUE(n.has_value()) << n.error().describe();
    ns.emplace(std::move(*n));
    auto t = CounterTable::create(k, 16);
    ASSERT_TRUE(t.has_value()) << t.error().describe();
    counters.emplace(std::move(*t));
    Result<Fd> r = fail(EINVAL, "unset"), s = fail(EINVAL, "unset");
    ASSERT_TRUE(ns->in_receiver([&] { r = testing::udp_socket_bound(NetnsPair::kReceiverAddr, kPort); }));
    ASSERT_TRUE(ns->in_sender([&] { s = testing::udp_socket_bound(NetnsPair::kSenderAddr, 0); }));
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    ASSERT_TRUE(s.has_value()) << s.error().describe();
    rx = std::move(*r);
    tx = std::move(*s);
  }

  Result<kernel::Prog> load(const FlavorOps& f, const emit::Program& p) {
    return flavor::load(k, f.flavor, p, {{std::string(kCountersMapName), &counters->map()}});
  }

  // Sends n datagrams and returns how many arrived.
  int send_and_count(int n) {
    auto sent = testing::udp_send(tx, NetnsPair::kReceiverAddr, kPort, n, kPayload);
    EXPECT_TRUE(sent.has_value());
    return testing::udp_drain(rx, 200);
  }

  uint64_t packets(uint32_t slot) {
    auto c = counters->read(slot);
    EXPECT_TRUE(c.has_value());
    return c ? c->packets : ~0ull;
  }
};

TEST_F(NetnsAttach, NetfilterLocalInDropsAndCounts) {
  const FlavorOps& f = flavor::flavor_ops(Flavor::kNetfilter);
  auto d = Dispatcher::create(k, Flavor::kNetfilter, f.accept);
  ASSERT_TRUE(d.has_value()) << d.error().describe();
  Result<void> attached = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] {
    attached = d->attach(AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 0));
  }));
  ASSERT_TRUE(attached.has_value()) << attached.error().describe();

  EXPECT_EQ(send_and_count(20), 20);  // empty slot: default verdict (accept)

  auto drop = load(f, make_chain(f, "drop_sender", {1}, NetnsPair::kSenderAddr, f.drop));
  ASSERT_TRUE(drop.has_value()) << drop.error().describe();
  ASSERT_TRUE(d->install(*drop).has_value());
  EXPECT_EQ(send_and_count(100), 0);
  EXPECT_EQ(packets(1), 100u);
  EXPECT_EQ(counters->read(1)->bytes, 100 * kIpLen);

  // A chain that drops another address lets the traffic through; slot 1 keeps its count across
  // the swap (it belongs to the counter table, not to a program).
  auto other = load(f, make_chain(f, "drop_other", {1}, "10.99.0.77", f.drop));
  ASSERT_TRUE(other.has_value()) << other.error().describe();
  ASSERT_TRUE(d->install(*other).has_value());
  EXPECT_EQ(send_and_count(30), 30);
  EXPECT_EQ(packets(1), 100u);

  ASSERT_TRUE(d->clear().has_value());
  EXPECT_EQ(send_and_count(10), 10);
  EXPECT_EQ(packets(1), 100u);

  // The dispatcher's default verdict applies when the slot is empty: a drop-by-default dispatcher
  // at another priority drops everything.
  auto dd = Dispatcher::create(k, Flavor::kNetfilter, f.drop);
  ASSERT_TRUE(dd.has_value());
  ASSERT_TRUE(ns->in_receiver([&] {
    attached = dd->attach(AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 10));
  }));
  ASSERT_TRUE(attached.has_value()) << attached.error().describe();
  EXPECT_EQ(send_and_count(10), 0);
  dd->detach();
  EXPECT_EQ(send_and_count(10), 10);
}

TEST_F(NetnsAttach, NetfilterSamePriorityTwiceIsBusy) {
  const FlavorOps& f = flavor::flavor_ops(Flavor::kNetfilter);
  auto d1 = Dispatcher::create(k, Flavor::kNetfilter, f.accept);
  auto d2 = Dispatcher::create(k, Flavor::kNetfilter, f.accept);
  ASSERT_TRUE(d1 && d2);
  Result<void> a1 = fail(EINVAL, "unset"), a2 = fail(EINVAL, "unset");
  auto at = AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_PRE_ROUTING, -150);
  ASSERT_TRUE(ns->in_receiver([&] {
    a1 = d1->attach(at);
    a2 = d2->attach(at);
  }));
  ASSERT_TRUE(a1.has_value()) << a1.error().describe();
  ASSERT_FALSE(a2.has_value());
  EXPECT_EQ(a2.error().err, EBUSY);
}

// Swaps the chain program continuously while a flood crosses the hook. Both programs accept and
// count every packet in the shared slot 0, and each also in its own slot (1 or 2): no packet may be
// lost (neither program drops) and none counted twice (slot 0 == packets sent == slot 1 + slot 2).
TEST_F(NetnsAttach, AtomicSwapUnderTraffic) {
  const FlavorOps& f = flavor::flavor_ops(Flavor::kNetfilter);
  auto d = Dispatcher::create(k, Flavor::kNetfilter, f.drop);  // a miss would show as a drop
  ASSERT_TRUE(d.has_value()) << d.error().describe();
  auto a = load(f, make_chain(f, "chain_a", {0, 1}, NetnsPair::kSenderAddr, f.accept));
  auto b = load(f, make_chain(f, "chain_b", {0, 2}, NetnsPair::kSenderAddr, f.accept));
  ASSERT_TRUE(a.has_value()) << a.error().describe();
  ASSERT_TRUE(b.has_value()) << b.error().describe();
  ASSERT_TRUE(d->install(*a).has_value());
  Result<void> attached = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] {
    attached = d->attach(AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 0));
  }));
  ASSERT_TRUE(attached.has_value()) << attached.error().describe();

  constexpr int kPackets = 30000;
  std::atomic<int> received{0};
  std::atomic<bool> sending{true};
  std::thread receiver([&] {
    char buf[2048];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (received.load() < kPackets && std::chrono::steady_clock::now() < deadline) {
      int got = testing::udp_drain(rx, sending.load() ? 50 : 300);
      (void)buf;
      received += got;
      if (got == 0 && !sending.load()) break;
    }
  });
  std::thread sender([&] {
    for (int sent = 0; sent < kPackets; sent += 100) {
      // Pace: never more than ~4000 datagrams in flight, so the socket buffer cannot overflow.
      for (int spin = 0; sent - received.load() > 4000 && spin < 20000; ++spin)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (!testing::udp_send(tx, NetnsPair::kReceiverAddr, kPort, 100, kPayload)) break;
    }
    sending = false;
  });
  int swaps = 0;
  while (sending.load()) {
    ASSERT_TRUE(d->install(swaps % 2 ? *a : *b).has_value());
    ++swaps;
  }
  sender.join();
  receiver.join();

  uint64_t total = packets(0), on_a = packets(1), on_b = packets(2);
  EXPECT_EQ(received.load(), kPackets);
  EXPECT_EQ(total, static_cast<uint64_t>(kPackets));
  EXPECT_EQ(on_a + on_b, total);
  EXPECT_GT(on_a, 0u);
  EXPECT_GT(on_b, 0u);
  EXPECT_GT(swaps, 100);
  RecordProperty("swaps", swaps);
  std::printf("swaps=%d on_a=%llu on_b=%llu\n", swaps, (unsigned long long)on_a, (unsigned long long)on_b);
}

TEST_F(NetnsAttach, XdpLinkUpdateSwaps) {
  const FlavorOps& f = flavor::flavor_ops(Flavor::kXdp);
  auto drop = load(f, make_chain(f, "xdp_drop", {4}, NetnsPair::kSenderAddr, f.drop));
  auto pass = load(f, make_chain(f, "xdp_pass", {5}, NetnsPair::kSenderAddr, f.accept));
  ASSERT_TRUE(drop.has_value()) << drop.error().describe();
  ASSERT_TRUE(pass.has_value()) << pass.error().describe();
  auto spec = flavor::link_spec(AttachPoint::xdp(ns->receiver_ifindex()));
  ASSERT_TRUE(spec.has_value());
  Result<kernel::Link> link = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { link = kernel::Link::create(k, *drop, *spec); }));
  ASSERT_TRUE(link.has_value()) << link.error().describe();
  EXPECT_EQ(send_and_count(20), 0);
  EXPECT_EQ(packets(4), 20u);
  EXPECT_EQ(counters->read(4)->bytes, 20 * kIpLen);  // L3 length, the Ethernet header excluded
  ASSERT_TRUE(link->update(*pass).has_value());
  EXPECT_EQ(send_and_count(20), 20);
  EXPECT_EQ(packets(5), 20u);
}

TEST_F(NetnsAttach, TcxIngressThroughDispatcher) {
  const FlavorOps& f = flavor::flavor_ops(Flavor::kTcxIngress);
  auto d = Dispatcher::create(k, Flavor::kTcxIngress, f.accept);
  ASSERT_TRUE(d.has_value()) << d.error().describe();
  auto drop = load(f, make_chain(f, "tcx_drop", {6}, NetnsPair::kSenderAddr, f.drop));
  ASSERT_TRUE(drop.has_value()) << drop.error().describe();
  Result<void> attached = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { attached = d->attach(AttachPoint::tcx(Flavor::kTcxIngress, ns->receiver_ifindex())); }));
  ASSERT_TRUE(attached.has_value()) << attached.error().describe();
  EXPECT_EQ(send_and_count(10), 10);
  ASSERT_TRUE(d->install(*drop).has_value());
  EXPECT_EQ(send_and_count(25), 0);
  EXPECT_EQ(packets(6), 25u);
}

// Metadata through BTF pointers, as a meta matcher would read it: ctx->state->hook,
// ctx->state->in->ifindex and ctx->skb->mark, with offsets looked up in vmlinux BTF.
TEST_F(NetnsAttach, NetfilterReadsHookStateAndSkbThroughBtf) {
  const FlavorOps& f = flavor::flavor_ops(Flavor::kNetfilter);
  auto ifindex_off = k.btf_member_offset("net_device", "ifindex");
  auto mark_off = k.btf_member_offset("sk_buff", "mark");
  ASSERT_TRUE(ifindex_off && mark_off);
  emit::Program p("nf_meta");
  emit::MapRef counters_ref = p.map(kCountersMapName);
  emit::Label accept(p);
  f.emit_packet_init(p, accept);
  p.ldx(emit::Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxStateOff);
  p.ldx(emit::Size::kB, Reg::R2, Reg::R1, abi::kNfStateHookOff);
  p.jmp(emit::Cond::kNe, Reg::R2, NF_INET_LOCAL_IN, accept);
  p.ldx(emit::Size::kDW, Reg::R1, Reg::R1, abi::kNfStateInOff);
  p.jmp(emit::Cond::kEq, Reg::R1, 0, accept);
  p.ldx(emit::Size::kW, Reg::R1, Reg::R1, static_cast<int16_t>(*ifindex_off));
  p.jmp(emit::Cond::kNe, Reg::R1, ns->receiver_ifindex(), accept);
  p.ldx(emit::Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxSkbOff);
  p.ldx(emit::Size::kW, Reg::R1, Reg::R1, static_cast<int16_t>(*mark_off));
  p.jmp(emit::Cond::kNe, Reg::R1, 0, accept);
  emit_count(p, counters_ref, 8);
  p.ret(f.drop);
  p.bind(accept);
  p.ret(f.accept);
  auto prog = load(f, p);
  ASSERT_TRUE(prog.has_value()) << prog.error().describe() << "\n" << emit::disassemble(p);

  auto d = Dispatcher::create(k, Flavor::kNetfilter, f.accept);
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->install(*prog).has_value());
  Result<void> a = fail(EINVAL, "unset");
  ASSERT_TRUE(ns->in_receiver([&] { a = d->attach(AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 0)); }));
  ASSERT_TRUE(a.has_value()) << a.error().describe();
  EXPECT_EQ(send_and_count(12), 0);
  EXPECT_EQ(packets(8), 12u);
}

// Live non-linear skbs: TCP data crossing veth keeps its payload in page fragments, so direct
// packet access must take its dynptr slow path for payload bytes. Every data segment's payload
// must read correctly, and some segments must have been non-linear. Run at netfilter LOCAL_IN
// (kSkbDirect) and TCX ingress (kCtxDirect).
class NetnsTcpPayload : public NetnsAttach, public ::testing::WithParamInterface<Flavor> {};

TEST_P(NetnsTcpPayload, ReadsPayloadOfNonLinearSegments) {
  const FlavorOps& f = flavor::flavor_ops(GetParam());
  emit::Program p("tcp_payload");
  emit::MapRef ctr = p.map(kCountersMapName);
  emit::Label accept(p);
  f.emit_packet_init(p, accept);
  flavor::emit_slice(p, f, 9, 1, accept);  // ip protocol
  p.ldx(emit::Size::kB, Reg::R1, Reg::R0, 0);
  p.jmp(emit::Cond::kNe, Reg::R1, IPPROTO_TCP, accept);
  flavor::emit_load_l3_len(p, Reg::R8);
  p.jmp(emit::Cond::kLt, Reg::R8, 200, accept);  // only segments with payload
  emit_count(p, ctr, 10);
  {
    // Linear bytes from L3 on: the head length, or data_end - data - l3_offset.
    if (f.packet_mode == flavor::PacketMode::kSkbDirect) {
      p.ldx(emit::Size::kDW, Reg::R1, emit::kFrame, emit::kHeadLenOff);
    } else {
      p.ldx(emit::Size::kDW, Reg::R1, emit::kFrame, emit::kDataEndOff);
      p.ldx(emit::Size::kDW, Reg::R2, emit::kFrame, emit::kDataOff);
      p.alu(emit::AluOp::kSub, Reg::R1, Reg::R2);
      p.alu(emit::AluOp::kSub, Reg::R1, static_cast<int32_t>(f.l3_offset));
    }
    auto linear = p.jmp_fwd(emit::Cond::kGe, Reg::R1, Reg::R8);
    emit_count(p, ctr, 11);  // the linear data does not hold the whole packet
  }
  flavor::emit_slice(p, f, 150, 4, accept);  // payload (20 IP + <= 60 TCP header before it)
  p.ldx(emit::Size::kW, Reg::R1, Reg::R0, 0);
  p.jmp32(emit::Cond::kNe, Reg::R1, 0x5a5a5a5a, accept);  // "ZZZZ"
  emit_count(p, ctr, 12);
  p.bind(accept);
  p.ret(f.accept);
  auto prog = load(f, p);
  ASSERT_TRUE(prog.has_value()) << prog.error().describe() << "\n" << emit::disassemble(p);
  auto d = Dispatcher::create(k, f.flavor, f.accept);
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->install(*prog).has_value());
  Result<void> a = fail(EINVAL, "unset");
  auto at = f.flavor == Flavor::kNetfilter
                ? AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 0)
                : AttachPoint::tcx(f.flavor, ns->receiver_ifindex());
  ASSERT_TRUE(ns->in_receiver([&] { a = d->attach(at); }));
  ASSERT_TRUE(a.has_value()) << a.error().describe();

  int lfd = -1, cfd = -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(6000);
  inet_pton(AF_INET, NetnsPair::kReceiverAddr, &sa.sin_addr);
  ASSERT_TRUE(ns->in_receiver([&] {
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    listen(lfd, 1);
  }));
  Fd listener(lfd);
  ASSERT_TRUE(ns->in_sender([&] { cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }));
  Fd client(cfd);
  ASSERT_TRUE(listener.valid() && client.valid());
  timeval tv{5, 0};
  setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
  Fd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server.valid());
  setsockopt(server.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  std::vector<char> chunk(16384, 'Z'), buf(65536);
  size_t total = 0;
  for (int i = 0; i < 32; ++i) {
    ASSERT_EQ(send(client.get(), chunk.data(), chunk.size(), 0), static_cast<ssize_t>(chunk.size()));
    for (size_t got = 0; got < chunk.size();) {
      ssize_t n = recv(server.get(), buf.data(), buf.size(), 0);
      ASSERT_GT(n, 0) << strerror(errno);
      got += static_cast<size_t>(n);
      total += static_cast<size_t>(n);
    }
  }
  EXPECT_EQ(total, 32u * 16384u);
  uint64_t segments = packets(10), nonlinear = packets(11), read_ok = packets(12);
  std::printf("segments=%llu nonlinear=%llu read_ok=%llu\n", (unsigned long long)segments,
              (unsigned long long)nonlinear, (unsigned long long)read_ok);
  EXPECT_GT(segments, 0u);
  EXPECT_GT(nonlinear, 0u);
  EXPECT_EQ(read_ok, segments);
}

INSTANTIATE_TEST_SUITE_P(DirectModes, NetnsTcpPayload,
                         ::testing::Values(Flavor::kNetfilter, Flavor::kTcxIngress),
                         [](const auto& p) { return std::string(flavor::flavor_name(p.param)); });


// Every NF_INET hook in both families accepts a dispatcher link, and so do the extreme priorities.
TEST_F(NetnsAttach, NetfilterEveryHookAndFamilyAttaches) {
  std::vector<Dispatcher> all;
  for (uint32_t pf : {NFPROTO_IPV4, NFPROTO_IPV6}) {
    for (uint32_t hook = 0; hook < NF_INET_NUMHOOKS; ++hook) {
      for (int32_t prio : {INT_MIN + 1, -7, INT_MAX - 1}) {
        auto d = Dispatcher::create(k, Flavor::kNetfilter, NF_ACCEPT);
        ASSERT_TRUE(d.has_value()) << d.error().describe();
        Result<void> a = fail(EINVAL, "unset");
        ASSERT_TRUE(ns->in_receiver([&] { a = d->attach(AttachPoint::netfilter_hook(pf, hook, prio)); }));
        ASSERT_TRUE(a.has_value()) << "pf " << pf << " hook " << hook << " prio " << prio << ": "
                                   << a.error().describe();
        all.push_back(std::move(*d));
      }
    }
  }
  EXPECT_EQ(all.size(), 30u);
  EXPECT_EQ(send_and_count(5), 5);  // all accept-by-default
}

// cgroup_skb egress on a scratch cgroup2 group: only sockets created by a process in the group
// are filtered. The group lives under the unified hierarchy and is removed at the end.
TEST_F(NetnsAttach, CgroupSkbEgressFiltersOnlyItsCgroup) {
  const char* root = "/sys/fs/cgroup/unified";
  struct stat st {};
  if (stat(root, &st) != 0) root = "/sys/fs/cgroup";  // pure cgroup2 systems
  std::string dir = std::string(root) + "/nfbpf-test-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
  struct Cleanup {
    std::string d;
    ~Cleanup() { rmdir(d.c_str()); }
  } cleanup{dir};
  Fd cg(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(cg.valid());

  const FlavorOps& f = flavor::flavor_ops(Flavor::kCgroupSkbEgress);
  auto d = Dispatcher::create(k, Flavor::kCgroupSkbEgress, f.accept);
  ASSERT_TRUE(d.has_value()) << d.error().describe();
  auto drop = load(f, make_chain(f, "cg_drop", {7}, NetnsPair::kSenderAddr, f.drop));
  ASSERT_TRUE(drop.has_value()) << drop.error().describe();
  ASSERT_TRUE(d->install(*drop).has_value());
  auto a = d->attach(AttachPoint::cgroup(Flavor::kCgroupSkbEgress, cg.get()));
  ASSERT_TRUE(a.has_value()) << a.error().describe();

  // A child joins the group, opens a socket in the sender namespace and sends 15 datagrams; a
  // cgroup egress drop makes each sendto() fail with EPERM.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    {
      std::ofstream procs(dir + "/cgroup.procs");
      procs << getpid() << std::endl;
      if (!procs) _exit(2);
    }
    int rc = 3;
    (void)ns->in_sender([&] {
      auto s = testing::udp_socket_bound(NetnsPair::kSenderAddr, 0);
      if (!s) return;
      int eperm = 0;
      for (int i = 0; i < 15; ++i) {
        auto r = testing::udp_send(*s, NetnsPair::kReceiverAddr, kPort, 1, kPayload);
        if (!r && r.error().err == EPERM) ++eperm;
      }
      rc = eperm == 15 ? 0 : 4;
    });
    _exit(rc);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(testing::udp_drain(rx, 200), 0);
  EXPECT_EQ(packets(7), 15u);
  // Our own socket was created outside the group: untouched.
  EXPECT_EQ(send_and_count(10), 10);
  EXPECT_EQ(packets(7), 15u);
  d->detach();
}

}  // namespace
}  // namespace nfbpf::codegen::runtime
