#pragma once
// The set-up every live comparison test repeats (live_ll_test, live_meta_test, live_ct_test):
// the table's first chain compiled and loaded as nfbpfd would, installed in a dispatcher attached
// at an IPv4 netfilter hook, priority 10 (after the kernel's own chain at 0), inside the receiver
// namespace of the pair.

#include <linux/netfilter.h>

#include <cstdint>
#include <vector>

#include "codegen/chain/compile.h"
#include "codegen/chain/load.h"
#include "codegen/runtime/dispatcher.h"
#include "codegen/kernel/testing/netns_pair.h"
#include "common/result.h"

namespace nfbpf::codegen::runtime_tests {

struct AttachedChain {
  chain::LoadedChain prog;
  runtime::Dispatcher dispatcher;
  std::vector<uint32_t> rule_slots;  // the counter slot of each rule's counter, in rule order
};

inline Result<AttachedChain> attach_ipv4_chain(kernel::Kernel& k, chain::RuntimeTables& rt,
                                               const ir::Table& t, testing::NetnsPair& ns,
                                               unsigned nf_hook) {
  auto cc = chain::compile_chain(t, t.chains[0], flavor::Flavor::kNetfilter, rt.options());
  if (!cc) return std::unexpected(cc.error());
  auto l = chain::load_chain(k, *cc, rt);
  if (!l) return std::unexpected(l.error());
  auto d = runtime::Dispatcher::create(k, flavor::Flavor::kNetfilter, NF_ACCEPT);
  if (!d) return std::unexpected(d.error());
  Result<void> a = fail(EINVAL, "unset");
  if (auto in = ns.in_receiver([&] { a = d->attach(flavor::AttachPoint::netfilter_hook(NFPROTO_IPV4, nf_hook, 10)); }); !in)
    return std::unexpected(in.error());
  if (!a) return std::unexpected(a.error());
  if (auto in = d->install(l->prog); !in) return std::unexpected(in.error());
  std::vector<uint32_t> slots;
  for (const auto& cu : cc->counters)
    if (cu.key.handle != 0) slots.push_back(cu.slot);
  return AttachedChain{std::move(*l), std::move(*d), std::move(slots)};
}

}  // namespace nfbpf::codegen::runtime_tests
