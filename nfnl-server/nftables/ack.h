#pragma once
// netlink_ack(): NLMSG_ERROR replies (errors and NLM_F_ACK acks) with extended-ack TLVs.

#include <span>

#include "common/result.h"
#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::nftables {

// `req` is the message being answered (nlmsghdr + payload). err is 0 or a positive errno.
// `extack` may carry msg and bad_attr (offset relative to req); ignored unless peer.ext_ack.
nfnl::Message make_ack(const nfnl::Peer& peer, std::span<const uint8_t> req, int err,
                       const Error* extack);

}  // namespace nfbpf::nftables
