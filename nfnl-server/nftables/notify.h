#pragma once
// Commit-time notifications (nf_tables_*_notify, nf_tables_gen_notify): what `nft monitor`
// receives on NFNLGRP_NFTABLES and what an NLM_F_ECHO sender gets back.

#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/nftables/txn.h"

namespace nfbpf::nftables {

// The notification for one committed op (empty message if the op notifies nothing).
nfnl::Message notification_for(const Op& op, uint32_t genid);

}  // namespace nfbpf::nftables
