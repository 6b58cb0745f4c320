#pragma once
// Table validation (nft_table_validate / nft_chain_validate): expression hook rules and jump
// loops are only checked for rules reachable from a base chain; jump loops are only an error once
// they are reachable from a base chain, so a loop among regular chains is accepted until a base
// chain jumps into it. Depth beyond NFT_JUMP_STACK_SIZE is EMLINK.

#include "common/result.h"
#include "nfnl-server/store/table.h"

namespace nfbpf::nftables {

// Walks every base chain active in "next": EMLINK on a cycle or when too deep (kernel 6.18
// no longer reports ELOOP: it recurses until the jump stack is exhausted).
Result<void> validate_table(const store::Table& t);

}  // namespace nfbpf::nftables
