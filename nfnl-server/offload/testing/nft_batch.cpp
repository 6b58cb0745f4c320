#include "nfnl-server/offload/testing/nft_batch.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cstring>

namespace nfbpf::offload::testing {

NftBatch::NftBatch(uint32_t seq) : seq_(seq) {
  nftnl_batch_begin(reserve(4096), seq_++);
  commit_msg();
}

char* NftBatch::reserve(size_t n) {
  if (buf_.size() < off_ + n) buf_.resize(off_ + n + 65536);
  std::memset(buf_.data() + off_, 0, n);
  return reinterpret_cast<char*>(buf_.data() + off_);
}

void NftBatch::commit_msg() {
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf_.data() + off_);
  off_ += NLMSG_ALIGN(nlh->nlmsg_len);
}

NftBatch& NftBatch::table(uint8_t family, const std::string& name) {
  nftnl_table* t = nftnl_table_alloc();
  nftnl_table_set_str(t, NFTNL_TABLE_NAME, name.c_str());
  nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(reserve(4096), NFT_MSG_NEWTABLE, family, NLM_F_CREATE, seq_++);
  nftnl_table_nlmsg_build_payload(nlh, t);
  nftnl_table_free(t);
  commit_msg();
  return *this;
}

NftBatch& NftBatch::del_table(uint8_t family, const std::string& name) {
  nftnl_table* t = nftnl_table_alloc();
  nftnl_table_set_str(t, NFTNL_TABLE_NAME, name.c_str());
  nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(reserve(4096), NFT_MSG_DELTABLE, family, 0, seq_++);
  nftnl_table_nlmsg_build_payload(nlh, t);
  nftnl_table_free(t);
  commit_msg();
  return *this;
}

NftBatch& NftBatch::base_chain(uint8_t family, const std::string& table, const std::string& name,
                               uint32_t hooknum, int32_t prio, uint32_t policy, const std::string& type,
                               const std::vector<std::string>& devices) {
  nftnl_chain* c = nftnl_chain_alloc();
  nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name.c_str());
  nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hooknum);
  nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
  nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type.c_str());
  nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, policy);
  if (devices.size() == 1) {
    nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, devices[0].c_str());
  } else if (!devices.empty()) {
    std::vector<const char*> names;
    for (const auto& d : devices) names.push_back(d.c_str());
    names.push_back(nullptr);
    nftnl_chain_set_data(c, NFTNL_CHAIN_DEVICES, names.data(), 0);
  }
  nlmsghdr* nlh = nftnl_chain_nlmsg_build_hdr(reserve(4096), NFT_MSG_NEWCHAIN, family, NLM_F_CREATE, seq_++);
  nftnl_chain_nlmsg_build_payload(nlh, c);
  nftnl_chain_free(c);
  commit_msg();
  return *this;
}

NftBatch& NftBatch::chain(uint8_t family, const std::string& table, const std::string& name) {
  nftnl_chain* c = nftnl_chain_alloc();
  nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name.c_str());
  nlmsghdr* nlh = nftnl_chain_nlmsg_build_hdr(reserve(4096), NFT_MSG_NEWCHAIN, family, NLM_F_CREATE, seq_++);
  nftnl_chain_nlmsg_build_payload(nlh, c);
  nftnl_chain_free(c);
  commit_msg();
  return *this;
}

NftBatch& NftBatch::rule(uint8_t family, const std::string& table, const std::string& chain, const RuleSpec& spec) {
  nftnl_rule* r = nftnl_rule_alloc();
  nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain.c_str());
  if (spec.saddr_be) {
    nftnl_expr* p = nftnl_expr_alloc("payload");
    nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
    nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_OFFSET, 12);
    nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_LEN, 4);
    nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    nftnl_rule_add_expr(r, p);
    nftnl_expr* c = nftnl_expr_alloc("cmp");
    nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
    nftnl_expr_set(c, NFTNL_EXPR_CMP_DATA, &*spec.saddr_be, 4);
    nftnl_rule_add_expr(r, c);
  }
  if (spec.counter) nftnl_rule_add_expr(r, nftnl_expr_alloc("counter"));
  if (spec.quota) {
    nftnl_expr* q = nftnl_expr_alloc("quota");
    nftnl_expr_set_u64(q, NFTNL_EXPR_QUOTA_BYTES, *spec.quota);
    nftnl_expr_set_u32(q, NFTNL_EXPR_QUOTA_FLAGS, 0);
    nftnl_rule_add_expr(r, q);
  }
  if (spec.reject) {
    nftnl_expr* j = nftnl_expr_alloc("reject");
    nftnl_expr_set_u32(j, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
    nftnl_expr_set_u8(j, NFTNL_EXPR_REJECT_CODE, 3);  // port unreachable
    nftnl_rule_add_expr(r, j);
  }
  if (spec.verdict) {
    nftnl_expr* i = nftnl_expr_alloc("immediate");
    nftnl_expr_set_u32(i, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(i, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(*spec.verdict));
    if (!spec.target.empty()) nftnl_expr_set_str(i, NFTNL_EXPR_IMM_CHAIN, spec.target.c_str());
    nftnl_rule_add_expr(r, i);
  }
  nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(reserve(8192), NFT_MSG_NEWRULE, family,
                                             NLM_F_CREATE | NLM_F_APPEND, seq_++);
  nftnl_rule_nlmsg_build_payload(nlh, r);
  nftnl_rule_free(r);
  commit_msg();
  return *this;
}

NftBatch& NftBatch::del_rule(uint8_t family, const std::string& table, const std::string& chain, uint64_t handle) {
  nftnl_rule* r = nftnl_rule_alloc();
  nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, handle);
  nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(reserve(4096), NFT_MSG_DELRULE, family, 0, seq_++);
  nftnl_rule_nlmsg_build_payload(nlh, r);
  nftnl_rule_free(r);
  commit_msg();
  return *this;
}

Bytes NftBatch::done() {
  nftnl_batch_end(reserve(4096), seq_++);
  commit_msg();
  return Bytes(buf_.begin(), buf_.begin() + long(off_));
}

int first_error(const std::vector<nfnl::Message>& replies) {
  for (const auto& m : replies) {
    nlmsghdr h;
    std::memcpy(&h, m.data(), sizeof(h));
    if (h.nlmsg_type != NLMSG_ERROR) continue;
    int err = 0;
    std::memcpy(&err, m.data() + NLMSG_HDRLEN, 4);
    if (err != 0) return -err;
  }
  return 0;
}

}  // namespace nfbpf::offload::testing
