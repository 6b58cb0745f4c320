#include "nfnl-server/offload/reset_targets.h"

#include <libmnl/libmnl.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <gtest/gtest.h>

namespace nfbpf::offload {
namespace {

nfnl::Message rule_msg(uint8_t family, const char* table, const char* chain, uint64_t handle) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  nftnl_rule* r = nftnl_rule_alloc();
  nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
  nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
  nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, handle);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(buf.data()), NFT_MSG_NEWRULE, family, NLM_F_MULTI, 1);
  nftnl_rule_nlmsg_build_payload(nlh, r);
  nftnl_rule_free(r);
  buf.resize(nlh->nlmsg_len);
  return buf;
}

nfnl::Message obj_msg(uint8_t family, const char* table, const char* name, uint32_t type) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  nftnl_obj* o = nftnl_obj_alloc();
  nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, table);
  nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
  nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, type);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(buf.data()), NFT_MSG_NEWOBJ, family, 0, 1);
  nftnl_obj_nlmsg_build_payload(nlh, o);
  nftnl_obj_free(o);
  buf.resize(nlh->nlmsg_len);
  return buf;
}

TEST(ResetTargets, ReadsRulesAndObjectsFromTheDumpAndSkipsOtherMessages) {
  std::vector<nfnl::Message> replies = {rule_msg(NFPROTO_IPV4, "t", "input", 4),
                                        rule_msg(NFPROTO_INET, "u", "c", 0x100000002ULL),
                                        obj_msg(NFPROTO_IPV6, "t6", "hits", NFT_OBJECT_COUNTER)};
  // NLMSG_DONE and a truncated message are not rules.
  nfnl::Message done(NLMSG_HDRLEN + 4, 0);
  reinterpret_cast<nlmsghdr*>(done.data())->nlmsg_len = uint32_t(done.size());
  reinterpret_cast<nlmsghdr*>(done.data())->nlmsg_type = NLMSG_DONE;
  replies.push_back(done);
  replies.push_back(nfnl::Message(replies[0].begin(), replies[0].begin() + 10));
  ResetTargets t = reset_targets(replies);
  ASSERT_EQ(t.rules.size(), 2u);
  EXPECT_EQ(t.rules[0].nfproto, NFPROTO_IPV4);
  EXPECT_EQ(t.rules[0].table, "t");
  EXPECT_EQ(t.rules[0].chain, "input");
  EXPECT_EQ(t.rules[0].handle, 4u);
  EXPECT_EQ(t.rules[1].nfproto, NFPROTO_INET);
  EXPECT_EQ(t.rules[1].handle, 0x100000002ULL);
  ASSERT_EQ(t.objects.size(), 1u);
  EXPECT_EQ(t.objects[0].nfproto, NFPROTO_IPV6);
  EXPECT_EQ(t.objects[0].table, "t6");
  EXPECT_EQ(t.objects[0].name, "hits");
  EXPECT_EQ(t.objects[0].type, uint32_t(NFT_OBJECT_COUNTER));
}

}  // namespace
}  // namespace nfbpf::offload
