#pragma once
// An nft ruleset as the kernel lists it (`nft -j list ruleset` + `nft -a list ruleset` for each
// rule's text), and the instrumented copy verify loads on both sides: a `counter` right after
// each rule's matches (so every rule's matches are counted, whatever its statements do next) and
// the table `inet nfbpf_verify` that counts what arrives and what is accepted:
//
//   chain head  prerouting -30000: the sentinel (counter drop) and an arrival counter
//   chain tail  input       30000: packets accepted through prerouting and input
//   chain tailf forward     30000: packets accepted through prerouting and forward
//   chain tailo output      30000: packets verify sent from the host (oifname out_dev), accepted through output

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace nfbpf::verify {

struct NftRule {
  std::string family, table, chain;
  size_t index = 0;         // position in its chain
  uint64_t handle = 0;      // in the kernel side's listing of the original ruleset
  std::string text;         // as `nft list ruleset` prints it
  std::string hook;         // its chain's hook ("" for a regular chain)
  nlohmann::json add;       // {"add": {"rule": ...}} with the counter inserted, no handle
  std::string key() const;  // "inet filter input#3"
};

struct NftModel {
  std::vector<nlohmann::json> skeleton;   // every add but rules (tables, chains, sets, ...), sentinel table included
  std::vector<NftRule> rules;
  std::vector<std::pair<std::string, std::string>> tables;  // (family, name) of ip/ip6/inet tables
};

// From the kernel side's listings of the loaded ruleset.
// out_dev: the device packets the host sends leave by (ScratchNet's out_dev).
Result<NftModel> nft_model(const std::string& json_listing, const std::string& text_listing_with_handles,
                           const std::string& out_dev = "fwd0");

// A `nft -j -f` batch: metainfo + the items.
std::string nft_batch(const std::vector<nlohmann::json>& items);

inline constexpr const char* kVerifyTable = "nfbpf_verify";
inline constexpr const char* kSentinelSrc = "192.0.2.222";
inline constexpr const char* kSentinelDst = "192.0.2.223";
inline const std::string kSentinelKey = "inet nfbpf_verify head#0";
inline const std::string kArrivalKey = "inet nfbpf_verify head#1";
inline const std::string kAcceptedKey = "inet nfbpf_verify tail#0";
inline const std::string kForwardedKey = "inet nfbpf_verify tailf#0";
inline const std::string kOutputAcceptedKey = "inet nfbpf_verify tailo#0";

// packets, bytes of the first counter of every rule, by NftRule::key (sentinel table included).
using Counters = std::map<std::string, std::pair<uint64_t, uint64_t>>;
Result<Counters> nft_counters(const std::string& json_listing);

}  // namespace nfbpf::verify
