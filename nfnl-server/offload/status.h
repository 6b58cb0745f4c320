#pragma once
// What `nfbpf status` reports: every base chain the OffloadHook runs (where it is attached, which
// program, how big) and the last batch the hook refused. Built by OffloadHook::status(), turned
// into JSON here (the daemon sends that JSON over its control socket; the CLI renders it).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "nfnl-server/offload/attach_plan.h"

namespace nfbpf::offload {

struct ChainStatus {
  std::string family, table, chain;  // as nft names them: "ip", "filter", "input"
  std::string type;                  // filter, route
  std::string hook;                  // input, ingress, ...
  int32_t priority = 0;
  std::vector<std::string> devices;  // netdev chains
  std::string prog_name;
  uint32_t prog_id = 0;                    // the kernel's program id (bpftool prog show id N)
  size_t insns = 0;                        // instructions loaded
  std::optional<uint32_t> verified_insns;  // instructions the verifier processed (bpf_prog_info)
  // A chain split into blocks (codegen/chain/blocks.h): how many programs, verified_insns is
  // their sum and this the largest (the verifier's 1M limit is per program).
  uint32_t blocks = 1;
  std::optional<uint32_t> verified_insns_max;
  double compile_ms = 0, load_ms = 0;      // when the program was built (load: maps + verifier)
  std::vector<AttachKey> attached;         // one per attach point (inet: IPv4 and IPv6)
  std::optional<std::string> refused;      // the last refused batch's error, when it was this chain's
};

struct Refusal {
  std::string chain;  // "ip t input" when the error is a chain's, else empty
  std::string error;  // the full message (the client only got the first 400 characters)
};

// Hybrid mode: where one chain runs (placement.h).
struct PlacedChainStatus {
  std::string family, table, chain;
  bool base = false;
  std::string where;   // "bpf", "kernel", "bpf+kernel" (a regular chain copied to both), "none"
  std::string reason;  // kernel base chains: the first thing that kept them in the kernel
};

// iptables-legacy / ip6tables-legacy tables (legacy_table_offload.h): where each one runs.
struct LegacyTableStatus {
  std::string family;  // "ip" (iptables-legacy) or "ip6" (ip6tables-legacy)
  std::string table;   // filter, nat, mangle, raw, security
  std::string where;   // "bpf", "kernel" (hybrid: the kernel's own x_tables), "none" (only
                       // stored: an empty table with ACCEPT policies changes no verdict)
  std::string reason;  // "kernel": why BPF does not run it
};

// {"legacy_tables": [{"family","table","where","reason"?}]}, and its lines for the text form.
nlohmann::json to_json(const std::vector<LegacyTableStatus>& tables);
std::string render_legacy_tables_text(const nlohmann::json& status);

struct OffloadStatus {
  std::string mode;  // "none", "strict" or "hybrid"
  std::vector<ChainStatus> chains;
  std::vector<PlacedChainStatus> placement;  // hybrid: every chain of the committed ruleset
  std::optional<Refusal> last_refused;
  size_t compiled = 0, reused = 0;  // programs compiled / reused since the daemon started
};

// {"mode": ..., "chains": [{"family","table","chain","type","hook","priority","devices",
//   "program": {"id","name","insns","verified_insns","compile_ms","load_ms"}, "attached": [{"kind":"netfilter","pf":"ipv4",
//   "hook":"input","priority":0} | {"kind":"tcx","direction":"ingress","ifindex":3,"device":"va"}],
//   "refused"?}], "placement": [{"family","table","chain","base","where","reason"?}] (hybrid),
//   "last_refused": {"chain","error"} | null, "compiled", "reused"}
nlohmann::json to_json(const OffloadStatus& s);
nlohmann::json to_json(const AttachKey& k);

// The human form `nfbpf status` prints, from the JSON above (so the CLI needs no daemon types).
std::string render_status_text(const nlohmann::json& status);

}  // namespace nfbpf::offload
