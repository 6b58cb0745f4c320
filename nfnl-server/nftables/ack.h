#pragma once
// netlink_ack(): NLMSG_ERROR replies (errors and NLM_F_ACK acks) with extended-ack TLVs.

#include <span>

#include "common/result.h"
#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/nftables/nla.h"

namespace nfbpf::nftables {

// `req` is the message being answered (nlmsghdr + payload). err is 0 or a positive errno.
// `extack` may carry msg and bad_attr (offset relative to req); ignored unless peer.ext_ack.
// `policy`: the policy entry of an attribute that failed validation (NLMSGERR_ATTR_POLICY).
nfnl::Message make_ack(const nfnl::Peer& peer, std::span<const uint8_t> req, int err,
                       const Error* extack, const NlaPolicy* policy = nullptr);

}  // namespace nfbpf::nftables
