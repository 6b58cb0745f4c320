#pragma once
// NFNL_SUBSYS_NFT_COMPAT (nft_compat.c's nfnl_compat_get_rcu): iptables-nft asks which
// revision of a match or target the kernel has before it builds a rule, as iptables-legacy
// does with IPT_SO_GET_REVISION_*. The answer comes from the same extension list
// (sockopt/extensions.h): the best revision if the asked one exists, EPROTONOSUPPORT if only
// other revisions exist, ENOENT if the name is unknown.

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/nftables/nla.h"

namespace nfbpf::nfnl::compat {

// One NFNL_SUBSYS_NFT_COMPAT request (nlmsghdr + nfgenmsg + attributes) from `portid`: the
// reply messages, or the error the kernel acks it with. `failed_policy` receives the policy
// entry of an attribute that failed validation (for NLMSGERR_ATTR_POLICY).
Result<std::vector<Message>> handle_compat_request(std::span<const uint8_t> msg, uint32_t portid,
                                                   const nftables::NlaPolicy** failed_policy);

}  // namespace nfbpf::nfnl::compat
