// Time for nfbpfd's nf_tables protocol to take one `nft -f`-sized batch of N rules
// (`ip saddr X drop`, built with libnftnl exactly as nft builds it) and commit it, store only
// (offload=none): parsing, validation, handles, transaction and commit. The store must stay
// linear in N (NOTES: 10 000 rules should load in about the kernel's time).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <linux/netfilter.h>

#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/test_client.h"

namespace nfbpf::bench {
namespace {

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

void BM_CommitRules(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  nftables::testing::Batch b;
  b.table(NFPROTO_IPV4, "t").base_chain(NFPROTO_IPV4, "t", "in", NF_INET_LOCAL_IN, 0);
  for (uint32_t i = 0; i < n; i++) b.rule_saddr_drop(NFPROTO_IPV4, "t", "in", htonl(0x0a000000u + i));
  const auto bytes = b.done();
  nfnl::Peer peer{.portid = 4242, .pid = 4242, .comm = "nft", .cap_net_admin = true};
  NoMulticast mc;
  for (auto _ : state) {
    state.PauseTiming();
    auto proto = nftables::make_nftables_protocol();
    state.ResumeTiming();
    auto replies = proto->handle(peer, bytes, mc);
    if (!replies.empty()) state.SkipWithError("the batch was refused");
    state.PauseTiming();
    proto.reset();  // destruction is not part of a commit
    state.ResumeTiming();
  }
  state.counters["rules"] = n;
  state.counters["us_per_rule"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate |
                                                                    benchmark::Counter::kInvert);
}

BENCHMARK(BM_CommitRules)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Arg(40000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace nfbpf::bench
