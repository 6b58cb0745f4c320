#pragma once
// Runs compiled chains with BPF_PROG_TEST_RUN and the same packets through the reference
// evaluator (translate/eval), for every hook flavor, so tests compare verdicts instead of writing
// them down. The evaluator sees the packet exactly as the flavor's test run presents it:
//
//   flavor        table family   evaluator context                       test_run input
//   netfilter     ip/ip6/inet    family of the packet, the chain's hook, bare L3 at LOCAL_OUT, else an
//                                in = none, out = lo (what test_run     Ethernet frame (stripped) + ctx {hook, pf}
//                                sets at every hook)
//   xdp           netdev         netdev ingress, in = lo (ifindex 1)     the frame
//   tcx_ingress   netdev         netdev ingress, in = lo                 the frame
//   tcx_egress    netdev         netdev egress, out = lo                 the frame
//   cgroup_skb_*  ip/ip6/inet    input / output, no devices              Ethernet frame (eth_type_trans pulls it)

#include <optional>
#include <span>
#include <string>

#include "codegen/chain/compile.h"
#include "codegen/chain/load.h"
#include "codegen/flavor/flavor.h"
#include "codegen/kernel/linux_kernel.h"
#include "translate/eval/boundaries.h"
#include "translate/eval/eval.h"

namespace nfbpf::codegen::runtime_tests {

using flavor::Flavor;

inline constexpr Flavor kAllFlavors[] = {Flavor::kNetfilter, Flavor::kXdp, Flavor::kTcxIngress, Flavor::kTcxEgress,
                                         Flavor::kCgroupSkbIngress, Flavor::kCgroupSkbEgress};

bool l2_flavor(Flavor f);
// The hook a flavor's chains sit at in the tests.
ir::Hook hook_for(Flavor f, ir::Hook netfilter_hook = ir::Hook::kInput);
// The table family tests use at a flavor for a case written for `family` (netdev at L2 flavors).
ir::Family family_for(Flavor f, ir::Family family);

// The evaluator context that matches what the flavor's test run presents.
eval::PacketContext context_for(Flavor f, ir::Hook hook, bool ipv6, uint32_t l2_len);

// A packet as the evaluator sees it: frame with l2_len bytes of link header (0: bare L3).
struct TestPacket {
  std::vector<uint8_t> frame;
  uint32_t l2_len = 0;
  bool ipv6 = false;
};

// One loaded chain program plus its evaluator twin.
class ChainRun {
 public:
  static Result<ChainRun> create(kernel::Kernel& k, chain::RuntimeTables& rt, const ir::Table& t,
                                 const std::string& base_chain, Flavor f, const chain::BlockLimits& blocks = {});
  // BPF verdict (kAccept/kDrop) for the packet at the chain's hook.
  Result<ir::VerdictKind> run_bpf(const TestPacket& pkt, uint32_t repeat = 1, uint32_t* duration_ns = nullptr) const;
  // Evaluator verdict with the flavor's context (state persists across calls).
  Result<ir::VerdictKind> run_eval(const TestPacket& pkt);
  // Both; fails the Result if either errs. first = bpf, second = eval.
  Result<std::pair<ir::VerdictKind, ir::VerdictKind>> run_both(const TestPacket& pkt);

  // Whether the packet reaches this chain at all: ip/ip6 tables see only their own family (a
  // netfilter program is attached per family; elsewhere the prologue accepts the other family
  // untouched). The evaluator runs any chain it is given, so callers skip such packets.
  bool applies(const TestPacket& pkt) const;
  // Test runs of skb-based flavors take at most about a page of data.
  bool runnable(const TestPacket& pkt) const { return l2_flavor(f_) && f_ == Flavor::kXdp ? true : pkt.frame.size() <= 3000; }

  const chain::CompiledChain& compiled() const { return *cc_; }
  const chain::LoadedChain& loaded() const { return *loaded_; }
  Flavor flavor() const { return f_; }
  ir::Hook hook() const { return hook_; }
  eval::EvalState& eval_state() { return state_; }
  // The evaluator's full result for the last run_eval/run_both packet (what decided, trace).
  const std::optional<eval::EvalResult>& last_eval() const { return last_eval_; }

 private:
  ChainRun() = default;
  const ir::Table* t_ = nullptr;
  const ir::Chain* chain_ = nullptr;
  Flavor f_ = Flavor::kNetfilter;
  ir::Hook hook_ = ir::Hook::kInput;
  std::shared_ptr<chain::CompiledChain> cc_;
  std::shared_ptr<chain::LoadedChain> loaded_;
  eval::EvalState state_;
  std::optional<eval::EvalResult> last_eval_;
};

// A probe (from eval::match_probes) as a TestPacket (its context is replaced by the flavor's).
TestPacket packet_of(const eval::Probe& p);

std::string verdict_name(ir::VerdictKind v);

}  // namespace nfbpf::codegen::runtime_tests
