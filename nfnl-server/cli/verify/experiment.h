#pragma once
// One experiment of compat-tests' verdict differential, run on verify's testbed (ScratchNet +
// Sides) by `nfbpf verify --batch`: the harness (compat-tests/nfbpf_compat/verdicts.py) says what
// to load and which counters to compare; loading, refusal reasons, daemon restarts, probe
// generation, sending, settling on a sentinel and naming the differing packets are verify's own
// code (the same Runner as `nfbpf verify RULESET`).
//
// Request (one JSON object; schema in docs/migration.md, "Batch mode"):
//   {"kind": "experiment",
//    "load": [{"stage": "setup"|"rule", "program"?: "nft"|"iptables-legacy"|"sh"|..., "args": [...], "stdin"?: text,
//              "alternatives"?: [[...args], ...]}],     // the first the kernel accepts is used on both sides
//                                                       // (each side is emptied first: Sides::flush, nft and x_tables)
//    "path"?: "prerouting-only"|"forward"|"replies",    // ScratchNet::Path (default prerouting-only)
//    "nfbpf_load"?: [...]                               // the nfbpf side's steps when they differ (harness self-test)
//    "probes": [[family, table, chain|"*"]],            // eval::rule_probes on what the kernel holds
//    "xt_probes"?: [family, table],                     // instead: an x_tables table the kernel holds (ipt_probes.h)
//    "probe_fallback"?: {"family", "rule"},             // when no probes: a nat/reject rule's matches alone
//    "tolerate_probe_failures"?: true,                  // a table without probes is skipped (generic_only_tables)
//    "generic_only_ok"?: true,                          // no probes at all: the generic packets only
//    "counters": [family, table] | "ruleset",           // keys "chain#i.nth" | "family table chain#i.nth"
//    "xt_counters"?: [tool, table],                     // + `tool-save -c`: "CHAIN#i", "policy CHAIN"
//    "ignore"?: [key, ...],                             // counters left out of the comparison
//    "replies"?: {"quiet_ms"?, "max_ms"?, "max_frames"?}, // capture what comes back to the sender (reply_capture.h)
//    "sentinel": "ipv4"|"ipv6", "sentinel_key": key, "arrival_key"?: key,
//    "placement"?: [family, table, chain],              // hybrid: where nfbpfd runs that chain
//    "legacy_placement"?: [family, table],              // hybrid: where nfbpfd runs that x_tables table
//    "placements"?: true,                               // hybrid: nfbpf status's whole placement list
//    "max_set_elements"?: 16, "max_named"?: 5}
// Reply: {"status": "equal"|"mismatch"|"kernel-refused"|"refused"|"daemon-died"|"no-probes"|
//         "harness-error", "stage"?, "detail"?, "alternative"?: index, "placement"?, "placements"?, "generic_only"?,
//         "match_only_probes"?, "generic_only_tables"?,
//         "rule_probes", "probes", "arrived", "kernel": {key: [p, b]}, "nfbpf"?: {...},
//         "replies"?: {"kernel": [hex frame, ...], "nfbpf": [...], "truncated"?},
//         "differing_probes"?: [{"probe", "frame", "evaluator_expects_match", "kernel", "nfbpf"}]}

#include <nlohmann/json.hpp>

#include "nfnl-server/cli/verify/nft_ruleset.h"
#include "nfnl-server/cli/verify/scratch_net.h"
#include "nfnl-server/cli/verify/sides.h"

namespace nfbpf::verify {

nlohmann::json run_experiment(ScratchNet& net, Sides& sides, const nlohmann::json& request);

// Every counter of an `nft -j list` listing: "chain#i.nth" (with_table: "family table chain#i.nth"),
// i the rule's position in its chain, nth the counter's position in the rule.
Result<Counters> all_counters(const std::string& json_listing, bool with_table);

}  // namespace nfbpf::verify
