#pragma once
// Test helper: builds the netlink requests nft would send, with libnftnl (the library nft uses),
// and runs them through a protocol instance.

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nfnl-server/netlink/endpoint.h"

struct nftnl_rule;
struct nftnl_set;
struct nftnl_obj;
struct nftnl_chain;
struct nftnl_table;

namespace nfbpf::nftables::testing {

using Bytes = std::vector<uint8_t>;

class Batch {
 public:
  explicit Batch(uint32_t seq = 1);
  Batch& table(uint8_t family, const std::string& name, uint16_t flags = 0);
  Batch& base_chain(uint8_t family, const std::string& table, const std::string& name,
                    uint32_t hooknum, int32_t prio, const std::string& type = "filter");
  Batch& chain(uint8_t family, const std::string& table, const std::string& name);
  // `ip saddr <addr> drop` (payload + cmp + immediate), appended.
  Batch& rule_saddr_drop(uint8_t family, const std::string& table, const std::string& chain,
                         uint32_t addr_be, uint16_t extra_flags = 0);
  // `jump <target>` appended to chain.
  Batch& rule_jump(uint8_t family, const std::string& table, const std::string& chain,
                   const std::string& target);
  // Arbitrary libnftnl objects (the Batch frees them): NEWSET/NEWSETELEM/DELSETELEM/NEWRULE/
  // DELRULE/NEWOBJ/DELOBJ/DELCHAIN/... with the given message type and NLM_F_* flags.
  Batch& set(uint16_t type, uint8_t family, struct nftnl_set* s, uint16_t flags = NLM_F_CREATE);
  Batch& elems(uint16_t type, uint8_t family, struct nftnl_set* s, uint16_t flags = NLM_F_CREATE);
  Batch& rule(uint16_t type, uint8_t family, struct nftnl_rule* r, uint16_t flags = NLM_F_CREATE | NLM_F_APPEND);
  Batch& obj(uint16_t type, uint8_t family, struct nftnl_obj* o, uint16_t flags = NLM_F_CREATE);
  Batch& chain_msg(uint16_t type, uint8_t family, struct nftnl_chain* c, uint16_t flags = 0);
  Batch& table_msg(uint16_t type, uint8_t family, struct nftnl_table* t, uint16_t flags = 0);
  // A message whose attributes `fill` puts (libmnl), for what libnftnl cannot express.
  Batch& raw(uint16_t type, uint8_t family, uint16_t flags, const std::function<void(nlmsghdr*)>& fill);
  Bytes done();  // appends BATCH_END

 private:
  template <typename Object, typename BuildPayload, typename Release>
  Batch& put(uint16_t type, uint8_t family, uint16_t flags, size_t room, Object* o,
             BuildPayload build_payload, Release release);
  void add_rule(struct nftnl_rule* r, uint8_t family, uint16_t extra_flags);
  char* reserve(size_t n);
  void commit_msg();
  Bytes buf_;
  size_t off_ = 0;
  uint32_t seq_;
};

// A single (non-batch) request, e.g. a dump.
Bytes get_request(uint16_t nft_msg, uint8_t family, uint16_t flags, uint32_t seq);
// GETSETELEM for set `s` (table and name set): a dump with NLM_F_DUMP, else a GET of the
// elements s carries (as `nft get element` sends it). Frees s.
Bytes get_elems_request(uint8_t family, struct nftnl_set* s, uint16_t flags, uint32_t seq);

// Splits concatenated replies for inspection.
struct Reply {
  uint16_t type;
  uint16_t flags;
  uint32_t seq;
  int error;  // for NLMSG_ERROR: the (negative) error
  Bytes bytes;
};
std::vector<Reply> parse_replies(const std::vector<nfnl::Message>& msgs);

// A peer with CAP_NET_ADMIN and extended acks on port `portid`.
nfnl::Peer admin_peer(uint32_t portid = 5);
// Runs `req` as port `portid`; returns the errno of the first NLMSG_ERROR that carries one.
int first_error(nfnl::NetlinkProtocol& p, const Bytes& req, uint32_t portid = 5);

}  // namespace nfbpf::nftables::testing
