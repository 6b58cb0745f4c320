#pragma once
// Hybrid mode (`nfbpfd --offload=hybrid`): where each chain of a table runs.
//
// The unit is a base chain together with every regular chain it can reach (jump, goto, verdict
// map elements): it runs as BPF when every rule of that group translates and its type is one BPF
// runs (filter, route), else all of it stays in the kernel's own nf_tables. A regular chain
// reachable from a BPF base chain and from a kernel base chain is placed on both sides (one copy
// each). A regular chain no base chain reaches runs nowhere (the store still lists it).
//
// Pure: the facts come from the store and the translator (hybrid_hook.cpp gathers them), so the
// decision is unit-tested without either.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nfbpf::offload {

struct ChainFacts {
  std::string name;
  bool base = false;
  std::string type = "filter";          // base chains: filter, nat, route
  std::vector<std::string> targets;     // chains its rules reach directly (jump/goto, vmap elements)
  std::optional<std::string> refusal;   // why BPF cannot run its first untranslatable rule
};

struct TableFacts {
  std::string family;                   // "ip", "inet", "arp", ... (for messages)
  std::string name;
  bool bpf_family = true;               // false: arp, bridge (no BPF flavor runs them)
  std::optional<std::string> refusal;   // table-wide: e.g. a set the translator cannot lower
  std::vector<ChainFacts> chains;
};

struct ChainPlacement {
  std::string chain;
  bool base = false;
  bool bpf = false;      // compiled into the BPF program of some BPF base chain
  bool kernel = false;   // held by the kernel table
  std::string reason;    // kernel base chains: what kept the group in the kernel
};

struct TablePlacement {
  std::vector<ChainPlacement> chains;  // in the order of TableFacts::chains
  bool any_kernel() const;
  bool any_bpf() const;
  const ChainPlacement* find(const std::string& chain) const;
};

// `forced_kernel`: base chains to place in the kernel whatever their facts say, with the reason (a
// chain whose rules translate but whose program codegen, the verifier or the attach refused).
TablePlacement place_table(const TableFacts& t, const std::map<std::string, std::string>& forced_kernel = {});

}  // namespace nfbpf::offload
