#pragma once
// Factory for the nf_tables netlink protocol (NFNL_SUBSYS_NFTABLES over NETLINK_NETFILTER).
//
// Wiring (daemon):
//   auto proto = nfbpf::nftables::make_nftables_protocol(std::make_unique<MyBackendHook>());
//   ... endpoint->on_datagram = [&](peer, bytes) { return proto->handle(peer, bytes, mcast); };
// Link target: nfbpf_nftables.

#include <memory>

#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/nftables/commit_hook.h"

namespace nfbpf::nftables {

// hook == nullptr means AcceptAllHook. The returned object owns the ruleset (one per daemon,
// i.e. per emulated network namespace).
std::unique_ptr<nfnl::NetlinkProtocol> make_nftables_protocol(
    std::unique_ptr<CommitHook> hook = nullptr);

}  // namespace nfbpf::nftables
