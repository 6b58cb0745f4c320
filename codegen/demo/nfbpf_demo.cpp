// nfbpf-demo: the code generator end to end on real traffic, touching nothing outside two
// scratch network namespaces it creates (anonymous: they vanish when the demo exits).
//
// It builds an example chain in the IR, compiles it to BPF, attaches it at the receiver's
// netfilter input hook, sends UDP datagrams over the veth pair, and prints per-rule counters
// read back from the BPF maps next to what the receiving sockets actually got.
#include <linux/netfilter.h>

#include <cstdio>
#include <map>
#include <optional>

#include "codegen/chain/compile.h"
#include "codegen/chain/load.h"
#include "codegen/kernel/linux_kernel.h"
#include "codegen/kernel/testing/netns_pair.h"
#include "codegen/runtime/dispatcher.h"
#include "translate/ir/build.h"
#include "translate/ir/printer.h"

namespace {

using namespace nfbpf;
using namespace nfbpf::codegen;
namespace b = ir::build;
using KF = ir::KnownField;

ir::Table example_table() {
  ir::Table t{.family = ir::Family::kIp, .name = "demo", .handle = 1};
  ir::Chain in{.name = "input", .handle = 1, .base = ir::BaseHook{.hook = ir::Hook::kInput, .priority = 0}};
  auto udp = b::eq(KF::kMetaL4Proto, b::u8(17));
  // 1: udp dport 9 counter drop            (the discard port: dropped)
  in.rules.push_back(ir::Rule{.handle = 2, .steps = {udp, b::eq(KF::kUdpDport, b::be16(9)), ir::Counter{}},
                              .verdict = b::drop(), .comment = "discard port"});
  // 2: ip saddr 10.99.0.0/24 udp dport 7000-7099 counter accept
  in.rules.push_back(ir::Rule{.handle = 3,
                              .steps = {b::prefix(KF::kIp4Saddr, *b::ip4("10.99.0.0"), 24), udp,
                                        b::range(KF::kUdpDport, b::be16(7000), b::be16(7099)), ir::Counter{}},
                              .verdict = b::accept(), .comment = "service range"});
  // 3: udp dport 8000-8999 counter drop
  in.rules.push_back(ir::Rule{.handle = 4, .steps = {udp, b::range(KF::kUdpDport, b::be16(8000), b::be16(8999)), ir::Counter{}},
                              .verdict = b::drop(), .comment = "blocked range"});
  // 4: counter (everything else reaching the end of the chain; policy accept)
  in.rules.push_back(ir::Rule{.handle = 5, .steps = {ir::Counter{}}, .comment = "fell through"});
  t.chains.push_back(std::move(in));
  return t;
}

int run() {
  kernel::LinuxKernel k;
  auto pair = testing::NetnsPair::create();
  if (!pair) return std::fprintf(stderr, "demo: namespaces: %s\n", pair.error().describe().c_str()), 1;

  ir::Table table = example_table();
  std::printf("Example chain (nfbpf IR):\n%s\n", ir::to_string(table).c_str());

  auto rt = chain::RuntimeTables::create(k);
  if (!rt) return std::fprintf(stderr, "demo: %s\n", rt.error().describe().c_str()), 1;
  auto cc = chain::compile_chain(table, table.chains[0], flavor::Flavor::kNetfilter, rt->options("demo_input"));
  if (!cc) return std::fprintf(stderr, "demo: compile: %s\n", cc.error().describe().c_str()), 1;
  auto loaded = chain::load_chain(k, *cc, *rt);
  if (!loaded) return std::fprintf(stderr, "demo: load: %s\n", loaded.error().describe().c_str()), 1;
  std::printf("Compiled to %zu BPF instructions; verified and loaded.\n", cc->program.insns().size());

  auto disp = runtime::Dispatcher::create(k, flavor::Flavor::kNetfilter, NF_ACCEPT, "demo_disp");
  if (!disp) return std::fprintf(stderr, "demo: %s\n", disp.error().describe().c_str()), 1;
  Result<void> attached;
  auto in_ns = pair->in_receiver([&] {
    attached = disp->attach(flavor::AttachPoint::netfilter_hook(NFPROTO_IPV4, NF_INET_LOCAL_IN, 0));
  });
  if (!in_ns || !attached) return std::fprintf(stderr, "demo: attach failed\n"), 1;
  if (auto r = disp->install(loaded->prog); !r) return std::fprintf(stderr, "demo: %s\n", r.error().describe().c_str()), 1;
  std::printf("Attached at ip input, priority 0, in the receiver namespace.\n\n");

  // Receivers on each port, then bounded sends from the sender namespace.
  const std::vector<std::pair<uint16_t, int>> sends = {{9, 5}, {7001, 8}, {8080, 6}, {9000, 4}};
  std::map<uint16_t, Fd> socks;
  pair->in_receiver([&] {
    for (auto [port, n] : sends) {
      (void)n;
      if (auto s = testing::udp_socket_bound(testing::NetnsPair::kReceiverAddr, port)) socks[port] = std::move(*s);
    }
  });
  pair->in_sender([&] {
    auto s = testing::udp_socket_bound(testing::NetnsPair::kSenderAddr, 0);
    if (!s) return;
    for (auto [port, n] : sends) (void)testing::udp_send(*s, testing::NetnsPair::kReceiverAddr, port, n, 64);
  });
  std::printf("%-10s %6s %9s\n", "udp dport", "sent", "delivered");
  for (auto [port, n] : sends) {
    int got = socks.count(port) ? testing::udp_drain(socks[port], 200) : -1;
    std::printf("%-10u %6d %9d\n", port, n, got);
  }

  std::printf("\n%-6s %-16s %8s %8s\n", "rule", "comment", "packets", "bytes");
  const ir::Chain& c = table.chains[0];
  for (const auto& r : c.rules) {
    for (const auto& use : cc->counters) {
      if (use.key.handle != r.handle) continue;
      auto v = rt->counters.read(use.slot);
      if (v) std::printf("%-6lu %-16s %8lu %8lu\n", (unsigned long)r.handle, r.comment.c_str(),
                         (unsigned long)v->packets, (unsigned long)v->bytes);
    }
  }
  return 0;
}

}  // namespace

int main() { return run(); }
