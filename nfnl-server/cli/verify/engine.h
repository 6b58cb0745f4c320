#pragma once
// The verification engine behind `nfbpf verify` (and, through its JSON, the verdict differential
// of compat-tests): one ruleset, loaded by the kernel's netfilter in one scratch namespace and by a
// private nfbpfd --offload=strict in another; per rule: loaded identically? offloaded (or why
// not)? Then packets — boundary probes from eval::rule_probes, a few generic ones, an optional
// capture — sent to both sides, and every rule's counter compared. Differences are narrowed down
// to the packets, with the rules that matched them and the verdict on each side.
//
// The report is JSON (schema in docs/migration.md, "JSON report"); `exit` is the command's exit
// status: 0 everything equal, 1 mismatches or refusals, 2 could not run.

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "nfnl-server/cli/verify/sides.h"

namespace nfbpf::verify {

struct VerifyOptions {
  std::string ruleset_path;
  std::string format;                // "" (auto), "nft", "iptables", "ip6tables"
  std::string pcap_path;             // "" (none)
  uint64_t max_packets = 100000;     // capture packets replayed at most
  size_t chunk = 256;                // packets sent between two counter reads
  size_t max_named = 10;             // differing packets named one by one at most
  size_t max_set_elements = 16;      // boundary probes per set
  std::string in_dev = "p1";        // name of the receiving device on both sides
  std::string out_dev = "fwd0";     // name of the forward path's outgoing device
  bool probes = true;                // boundary probes from eval::rule_probes
  bool progress = false;             // a progress line on stderr (a terminal)
  ToolPaths tools;
  std::map<std::string, std::string> daemon_env;  // NFBPF_TEST_FAULT for tests (docs/migration.md)
  std::string offload = "strict";    // nfbpfd's --offload mode: strict or hybrid
};

// A whole run: scratch namespaces, a private nfbpfd, the ruleset, the report.
nlohmann::json run_verify(const VerifyOptions& opt);

// The ruleset of `opt` on a testbed that is already up (batch mode: one testbed, many rulesets;
// both sides must be empty).
nlohmann::json verify_on(ScratchNet& net, Sides& sides, const VerifyOptions& opt);

}  // namespace nfbpf::verify
