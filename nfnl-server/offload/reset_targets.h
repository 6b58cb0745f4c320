#pragma once
// `nft reset counters` / `nft reset rules` are GET requests (NFT_MSG_GETOBJ_RESET,
// NFT_MSG_GETRULE_RESET): the kernel dumps the objects/rules with their values, then zeroes them.
// The protocol answers from the store; this reads back from its replies which rules and counter
// objects were dumped, so the backend zeroes exactly those.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::offload {

struct ResetRule {
  uint8_t nfproto = 0;
  std::string table, chain;
  uint64_t handle = 0;
};
struct ResetObject {
  uint8_t nfproto = 0;
  std::string table, name;
  uint32_t type = 0;  // NFT_OBJECT_*
};
struct ResetTargets {
  std::vector<ResetRule> rules;
  std::vector<ResetObject> objects;
};

// NEWRULE and NEWOBJ messages among `replies` (each message one nlmsghdr; others are ignored).
ResetTargets reset_targets(std::span<const nfnl::Message> replies);

}  // namespace nfbpf::offload
