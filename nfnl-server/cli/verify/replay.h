#pragma once
// The packet phase: every packet (probes, generic packets, then the capture, streamed) goes to
// both sides in chunks; after each chunk (and its sentinel) every rule's counter is read on both
// sides (once as traffic for the local host, once more routed through when the ruleset has
// forward or postrouting chains). A chunk whose counters differ is sent again one packet at a time to name the packets
// that differ, with the rules that matched each on either side and the verdict each side gave.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nfnl-server/cli/verify/prepared.h"

namespace nfbpf::verify {

struct ReplayResult {
  Counters kernel, nfbpf;          // per-rule totals of the first pass (sentinel excluded)
  uint64_t probes = 0, generic = 0, pcap = 0, pcap_read = 0, pcap_skipped = 0;
  uint64_t differing_chunks = 0;
  bool pcap_truncated = false;     // --max-packets reached
  uint64_t local_unsendable = 0;   // output path: packets a raw socket cannot send as they are
  std::vector<std::string> paths;  // "local" (prerouting, input), "forward" (prerouting, forward, postrouting),
                                   // "output" (sent by the host: output, postrouting)
  std::vector<nlohmann::json> mismatches;  // named packets (at most opt.max_named)
};

Result<ReplayResult> replay(ScratchNet& net, Prepared& prep, const VerifyOptions& opt);

}  // namespace nfbpf::verify
