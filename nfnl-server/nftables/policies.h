#pragma once
// The kernel's nla_policy tables for nf_tables messages (net/netfilter/nf_tables_api.c).

#include "nfnl-server/nftables/nla.h"

namespace nfbpf::nftables::policy {

Policy table();
Policy chain();
Policy hook();
Policy chain_counters();
Policy rule();
Policy expr();
Policy set();
Policy set_desc();
Policy set_elem_list();
Policy set_elem();
Policy data();
Policy verdict();
Policy gen();
Policy batch();
Policy obj();
Policy flowtable();
// Policy for the top-level attributes of NFT_MSG_* `type` (empty policy for unknown types).
Policy for_msg(uint16_t type);

}  // namespace nfbpf::nftables::policy
