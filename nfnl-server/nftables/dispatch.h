#pragma once
// NFT_MSG_* -> handler table (the kernel's nf_tables_cb[]).

#include <cstdint>

#include "nfnl-server/nftables/handlers.h"

namespace nfbpf::nftables {

struct MsgHandler {
  BatchHandler batch = nullptr;  // NFNL_CB_BATCH
  GetHandler get = nullptr;      // NFNL_CB_RCU
};

// nullptr for types >= NFT_MSG_MAX.
const MsgHandler* find_handler(uint16_t nft_msg);

}  // namespace nfbpf::nftables
