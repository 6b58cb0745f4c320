#include "nfnl-server/nftables/chain_types.h"

#include <linux/netfilter.h>
#include <linux/netfilter_arp.h>

#include <array>

namespace nfbpf::nftables {
namespace {

constexpr uint32_t bit(int h) { return 1u << h; }
constexpr uint32_t kInet5 = bit(NF_INET_PRE_ROUTING) | bit(NF_INET_LOCAL_IN) |
                            bit(NF_INET_FORWARD) | bit(NF_INET_LOCAL_OUT) |
                            bit(NF_INET_POST_ROUTING);
constexpr uint32_t kNat = bit(NF_INET_PRE_ROUTING) | bit(NF_INET_LOCAL_IN) |
                          bit(NF_INET_LOCAL_OUT) | bit(NF_INET_POST_ROUTING);

struct FamilyTypes {
  uint8_t family;
  std::array<ChainType, 3> types;
};

constexpr std::array<FamilyTypes, 6> kTypes = {{
    {NFPROTO_IPV4, {{{"filter", kInet5, false}, {"nat", kNat, true}, {"route", bit(NF_INET_LOCAL_OUT), false}}}},
    {NFPROTO_IPV6, {{{"filter", kInet5, false}, {"nat", kNat, true}, {"route", bit(NF_INET_LOCAL_OUT), false}}}},
    {NFPROTO_INET, {{{"filter", kInet5 | bit(NF_INET_INGRESS), false}, {"nat", kNat, true}, {"route", bit(NF_INET_LOCAL_OUT), false}}}},
    {NFPROTO_ARP, {{{"filter", bit(NF_ARP_IN) | bit(NF_ARP_OUT), false}, {}, {}}}},
    {NFPROTO_BRIDGE, {{{"filter", kInet5, false}, {}, {}}}},
    {NFPROTO_NETDEV, {{{"filter", bit(NF_NETDEV_INGRESS) | bit(NF_NETDEV_EGRESS), false}, {}, {}}}},
}};

}  // namespace

const ChainType* find_chain_type(uint8_t family, std::string_view name) {
  for (const auto& f : kTypes)
    if (f.family == family)
      for (const auto& t : f.types)
        if (!t.name.empty() && t.name == name) return &t;
  return nullptr;
}

const ChainType* default_chain_type(uint8_t family) { return find_chain_type(family, "filter"); }

bool netdev_hook(uint8_t family, uint32_t hooknum) {
  return family == NFPROTO_NETDEV || (family == NFPROTO_INET && hooknum == NF_INET_INGRESS);
}

}  // namespace nfbpf::nftables
