#include "nfnl-server/nftables/test_client.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstring>

namespace nfbpf::nftables::testing {

Batch::Batch(uint32_t seq) : seq_(seq) {
  nftnl_batch_begin(reserve(4096), seq_++);
  commit_msg();
}

char* Batch::reserve(size_t n) {
  if (buf_.size() < off_ + n) buf_.resize(off_ + n + 65536);
  std::memset(buf_.data() + off_, 0, n);
  return reinterpret_cast<char*>(buf_.data() + off_);
}

void Batch::commit_msg() {
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf_.data() + off_);
  off_ += NLMSG_ALIGN(nlh->nlmsg_len);
}

// One message of the batch: header, the object's attributes (libnftnl's build_payload), and the
// object freed. `room` bounds the message; the buffer grows to hold it.
template <typename Object, typename BuildPayload, typename Release>
Batch& Batch::put(uint16_t type, uint8_t family, uint16_t flags, size_t room, Object* o,
                  BuildPayload build_payload, Release release) {
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reserve(room), type, family, flags, seq_++);
  build_payload(nlh, o);
  release(o);
  commit_msg();
  return *this;
}

Batch& Batch::table(uint8_t family, const std::string& name, uint16_t flags) {
  nftnl_table* t = nftnl_table_alloc();
  nftnl_table_set_str(t, NFTNL_TABLE_NAME, name.c_str());
  return table_msg(NFT_MSG_NEWTABLE, family, t, NLM_F_CREATE | flags);
}

Batch& Batch::base_chain(uint8_t family, const std::string& table, const std::string& name,
                         uint32_t hooknum, int32_t prio, const std::string& type) {
  nftnl_chain* c = nftnl_chain_alloc();
  nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name.c_str());
  nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hooknum);
  nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
  nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type.c_str());
  return chain_msg(NFT_MSG_NEWCHAIN, family, c, NLM_F_CREATE);
}

Batch& Batch::chain(uint8_t family, const std::string& table, const std::string& name) {
  nftnl_chain* c = nftnl_chain_alloc();
  nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name.c_str());
  return chain_msg(NFT_MSG_NEWCHAIN, family, c, NLM_F_CREATE);
}

void Batch::add_rule(nftnl_rule* r, uint8_t family, uint16_t extra_flags) {
  rule(NFT_MSG_NEWRULE, family, r, NLM_F_CREATE | NLM_F_APPEND | extra_flags);
}

Batch& Batch::rule_saddr_drop(uint8_t family, const std::string& table, const std::string& chain,
                              uint32_t addr_be, uint16_t extra_flags) {
  nftnl_rule* r = nftnl_rule_alloc();
  nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_expr* p = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_OFFSET, 12);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_LEN, 4);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_rule_add_expr(r, p);
  nftnl_expr* c = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
  nftnl_expr_set(c, NFTNL_EXPR_CMP_DATA, &addr_be, 4);
  nftnl_rule_add_expr(r, c);
  nftnl_expr* i = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(i, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(i, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
  nftnl_rule_add_expr(r, i);
  add_rule(r, family, extra_flags);
  return *this;
}

Batch& Batch::rule_jump(uint8_t family, const std::string& table, const std::string& chain,
                        const std::string& target) {
  nftnl_rule* r = nftnl_rule_alloc();
  nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_expr* i = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(i, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(i, NFTNL_EXPR_IMM_VERDICT, uint32_t(NFT_JUMP));
  nftnl_expr_set_str(i, NFTNL_EXPR_IMM_CHAIN, target.c_str());
  nftnl_rule_add_expr(r, i);
  add_rule(r, family, 0);
  return *this;
}

Batch& Batch::set(uint16_t type, uint8_t family, nftnl_set* s, uint16_t flags) {
  return put(type, family, flags, 8192, s, nftnl_set_nlmsg_build_payload, nftnl_set_free);
}

Batch& Batch::elems(uint16_t type, uint8_t family, nftnl_set* s, uint16_t flags) {
  return put(type, family, flags, 16384, s, nftnl_set_elems_nlmsg_build_payload, nftnl_set_free);
}

Batch& Batch::rule(uint16_t type, uint8_t family, nftnl_rule* r, uint16_t flags) {
  return put(type, family, flags, 8192, r, nftnl_rule_nlmsg_build_payload, nftnl_rule_free);
}

Batch& Batch::obj(uint16_t type, uint8_t family, nftnl_obj* o, uint16_t flags) {
  return put(type, family, flags, 4096, o, nftnl_obj_nlmsg_build_payload, nftnl_obj_free);
}

Batch& Batch::chain_msg(uint16_t type, uint8_t family, nftnl_chain* c, uint16_t flags) {
  return put(type, family, flags, 4096, c, nftnl_chain_nlmsg_build_payload, nftnl_chain_free);
}

Batch& Batch::table_msg(uint16_t type, uint8_t family, nftnl_table* t, uint16_t flags) {
  return put(type, family, flags, 4096, t, nftnl_table_nlmsg_build_payload, nftnl_table_free);
}

Batch& Batch::raw(uint16_t type, uint8_t family, uint16_t flags,
                  const std::function<void(nlmsghdr*)>& fill) {
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reserve(4096), type, family, flags, seq_++);
  fill(nlh);
  commit_msg();
  return *this;
}

Bytes Batch::done() {
  nftnl_batch_end(reserve(4096), seq_++);
  commit_msg();
  return Bytes(buf_.begin(), buf_.begin() + long(off_));
}

Bytes get_request(uint16_t nft_msg, uint8_t family, uint16_t flags, uint32_t seq) {
  Bytes b(64, 0);
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(b.data()), nft_msg, family, flags, seq);
  b.resize(nlh->nlmsg_len);
  return b;
}

Bytes get_elems_request(uint8_t family, nftnl_set* s, uint16_t flags, uint32_t seq) {
  Bytes b(16384, 0);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(b.data()), NFT_MSG_GETSETELEM,
                                        family, flags, seq);
  nftnl_set_elems_nlmsg_build_payload(nlh, s);  // no element list if s has no elements
  nftnl_set_free(s);
  b.resize(nlh->nlmsg_len);
  return b;
}

std::vector<Reply> parse_replies(const std::vector<nfnl::Message>& msgs) {
  std::vector<Reply> out;
  for (const auto& m : msgs) {
    nlmsghdr h;
    std::memcpy(&h, m.data(), sizeof(h));
    Reply r{h.nlmsg_type, h.nlmsg_flags, h.nlmsg_seq, 0, m};
    if (h.nlmsg_type == NLMSG_ERROR) std::memcpy(&r.error, m.data() + NLMSG_HDRLEN, 4);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace nfbpf::nftables::testing

namespace nfbpf::nftables::testing {

nfnl::Peer admin_peer(uint32_t portid) {
  nfnl::Peer peer;
  peer.portid = portid;
  peer.pid = int(portid);
  peer.comm = "test";
  peer.cap_net_admin = true;
  peer.ext_ack = true;
  return peer;
}

namespace {
struct DropMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};
}  // namespace

int first_error(nfnl::NetlinkProtocol& p, const Bytes& req, uint32_t portid) {
  DropMulticast mc;
  for (const auto& r : parse_replies(p.handle(admin_peer(portid), req, mc)))
    if (r.type == NLMSG_ERROR && r.error) return -r.error;
  return 0;
}

}  // namespace nfbpf::nftables::testing
