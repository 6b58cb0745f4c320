#pragma once
// What a ruleset driver (nft_driver, ipt_driver) hands the packet phase: both sides loaded with
// the same instrumented rules, each rule's offload outcome, the boundary probes, and how to read
// every rule's counter on either side.

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "nfnl-server/cli/verify/engine.h"
#include "nfnl-server/cli/verify/nft_ruleset.h"
#include "nfnl-server/cli/verify/packets.h"
#include "nfnl-server/cli/verify/scratch_net.h"
#include "nfnl-server/cli/verify/sides.h"

namespace nfbpf::verify {

struct RuleRow {
  std::string key;           // "inet filter input#3" (counters use the same key)
  std::string text;          // the rule as the kernel lists it
  std::string hook;          // its chain's hook, "" for a regular chain
  bool offloaded = true;     // accepted by nfbpfd --offload=strict (and loaded on both sides)
  std::string reason;        // why not
  std::string runs;          // hybrid: where nfbpfd runs its chain ("bpf", "kernel", "bpf+kernel"); strict: ""
};

struct Prepared {
  std::vector<RuleRow> rules;
  bool listing_identical = true;   // the ruleset as written lists the same from both sides
  std::string listing_diff;        // first differing lines, when not
  std::string load_refusal;        // nfbpfd refused the ruleset as a whole (then rules were tried one by one)
  bool nothing_loaded = false;     // not even the tables/chains/sets: no packets can be compared
  std::vector<Packet> probes;
  std::vector<std::string> notes;  // probes not generated for ..., hooks not exercised, ...
  std::function<Result<Counters>(Side)> counters;
  bool sentinel = true;            // a sentinel rule is loaded (else settle by stability)
  std::string sentinel_key = kSentinelKey;               // its counter's key
  std::vector<uint8_t> sentinel_packet = sentinel_frame(); // the frame it counts (and drops)
  bool forward_path = false;       // rules at forward/postrouting: send everything routed through too
  bool output_path = false;        // rules at output: send everything from the sides' own stacks too
  bool realistic = true;           // generic packets with checksums (make_realistic); false: as built
  bool fresh_counters = false;     // loaded just now and nothing sent yet: the first counter read is skipped
};

Result<Prepared> prepare_nft(ScratchNet& net, Sides& sides, const VerifyOptions& opt);
Result<Prepared> prepare_ipt(ScratchNet& net, Sides& sides, const VerifyOptions& opt, bool v6);

// Counters read from a side hold positions among the rules LOADED in each chain; refused rules are
// not loaded, so positions are mapped back to the rules' keys (RuleRow::key) here.
std::function<Result<Counters>(Side)> keyed_by_rule(std::function<Result<Counters>(Side)> read,
                                                    const std::vector<RuleRow>& rows);

// Hybrid: each loaded rule's RuleRow::runs, from nfbpfd's placement of its chain (nfbpf status).
Result<void> mark_placement(Sides& sides, std::vector<RuleRow>& rows);

// The first lines where two listings differ ("kernel: ... / nfbpf: ..."), empty when equal.
std::string first_difference(const std::string& kernel, const std::string& nfbpf);

// Probes of every ip/ip6/inet table `tables` holds in namespace `ns` (dumped over netlink there).
// Refused rules are noted and skipped.
std::vector<Packet> probes_in_ns(ScratchNet& net, int ns, const std::vector<std::pair<std::string, std::string>>& tables,
                                 size_t max_set_elements, std::vector<std::string>& notes);

}  // namespace nfbpf::verify
