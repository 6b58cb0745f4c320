#pragma once
// Base chain types per family and the hooks each accepts (nft_chain_filter.c, nft_chain_nat.c,
// nft_chain_route.c), plus the netdev device rules.

#include <cstdint>
#include <string_view>

namespace nfbpf::nftables {

struct ChainType {
  std::string_view name;
  uint32_t hook_mask;
  bool nat;
};

// nullptr if `name` is not a chain type of `family` (the kernel answers ENOENT).
const ChainType* find_chain_type(uint8_t family, std::string_view name);
// The family's default type ("filter").
const ChainType* default_chain_type(uint8_t family);
bool netdev_hook(uint8_t family, uint32_t hooknum);

}  // namespace nfbpf::nftables
