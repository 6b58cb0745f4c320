#pragma once
// Builders for the messages the kernel sends about objects (dump entries, GET replies,
// notifications, echoes): nf_tables_fill_*_info() with the kernel's attribute order.

#include <cstdint>

#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/store/ruleset.h"

namespace nfbpf::nftables {

// Header fields shared by every object message.
struct FillHdr {
  uint16_t event = 0;  // NFT_MSG_*
  uint16_t flags = 0;  // NLM_F_*
  uint32_t portid = 0;
  uint32_t seq = 0;
  uint32_t genid = 0;  // res_id = htons(genid & 0xffff)
};

uint16_t res_id_be(uint32_t genid);
uint16_t nft_type(uint16_t msg);  // NFNL_SUBSYS_NFTABLES << 8 | msg

nfnl::Message fill_table(const FillHdr& h, const store::Table& t);
// devices: the netdev devices to list instead of the chain's (a device update's notification
// lists only the devices it added).
nfnl::Message fill_chain(const FillHdr& h, const store::Table& t, const store::Chain& c,
                         const std::vector<std::string>* devices = nullptr);
// prev: handle of the rule before it (NFTA_RULE_POSITION), 0 for none.
nfnl::Message fill_rule(const FillHdr& h, const store::Table& t, const store::Chain& c,
                        const store::Rule& r, uint64_t prev);
nfnl::Message fill_set(const FillHdr& h, const store::Table& t, const store::Set& s);
// Elements [first, last) of a set in one NEWSETELEM message.
nfnl::Message fill_setelems(const FillHdr& h, const store::Table& t, const store::Set& s,
                            const std::vector<const store::SetElem*>& elems);
nfnl::Message fill_obj(const FillHdr& h, const store::Table& t, const store::Object& o);
nfnl::Message fill_gen(const FillHdr& h, uint32_t genid, uint32_t pid, const std::string& comm);
// NLMSG_DONE closing a dump.
nfnl::Message fill_done(uint32_t portid, uint32_t seq);

}  // namespace nfbpf::nftables
