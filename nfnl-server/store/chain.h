#pragma once
// A chain. Base chains carry a hook (hooknum, priority, type, policy, devices); regular chains do
// not. Rules are an ordered list with a handle index, so append/insert/delete are O(1).

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "nfnl-server/store/rule.h"
#include "nfnl-server/store/visibility.h"

namespace nfbpf::store {

struct BaseHook {
  uint32_t hooknum = 0;
  int32_t priority = 0;
  std::string type = "filter";  // filter, nat, route
  uint32_t policy = 1;          // NF_ACCEPT
  uint32_t policy_next = 1;     // the policy as the open transaction leaves it (commit hooks)
  std::vector<std::string> devices;
  // Base chain counters (nft_base_chain.stats): present once NEWCHAIN carried
  // NFTA_CHAIN_COUNTERS, as the kernel allocates them only then, and listed from then on. The
  // kernel counts the packets that reach the chain's policy (iptables-nft shows them as the
  // policy counters). An update replaces them at commit.
  struct Stats {
    uint64_t packets = 0, bytes = 0;
  };
  std::optional<Stats> stats;
  // The counters an open transaction's chain update carries (they replace `stats` at commit, as
  // nft_chain_stats_replace() does); commit hooks read them to seed what counts in their place.
  std::optional<Stats> stats_pending;
};

struct Chain {
  std::string name;
  uint64_t handle = 0;
  uint32_t flags = 0;  // NFT_CHAIN_BASE | NFT_CHAIN_HW_OFFLOAD | NFT_CHAIN_BINDING
  std::optional<BaseHook> hook;
  std::optional<std::vector<uint8_t>> userdata;
  uint32_t use = 0;  // rules + references (jumps, verdict map elements), as the kernel counts
  uint32_t batch_id = 0;  // NFTA_CHAIN_ID of the transaction that created it (0 = none)
  // Ruleset-wide NEWCHAIN order (Ruleset::chain_clock; 0 = not counted): the kernel registers a
  // base chain's hook when its NEWCHAIN is processed, and at equal priority the later one runs
  // first, whichever table it is in (hybrid mode orders ties by it).
  uint64_t created = 0;
  Visibility vis;

  std::list<Rule> rules;
  // A multimap: a replaced rule (NLM_F_REPLACE) and its replacement share the handle until commit.
  std::unordered_multimap<uint64_t, std::list<Rule>::iterator> rule_by_handle;

  bool is_base() const { return hook.has_value(); }
};

}  // namespace nfbpf::store
