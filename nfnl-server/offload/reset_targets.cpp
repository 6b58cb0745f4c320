#include "nfnl-server/offload/reset_targets.h"

#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <arpa/inet.h>

#include <cstring>

namespace nfbpf::offload {

namespace {

struct Attrs {
  const nlattr* tb[NFTA_RULE_MAX > NFTA_OBJ_MAX ? NFTA_RULE_MAX + 1 : NFTA_OBJ_MAX + 1] = {};
  uint16_t max = 0;
};

int collect(const nlattr* a, void* data) {
  auto* at = static_cast<Attrs*>(data);
  const uint16_t type = mnl_attr_get_type(a);
  if (type <= at->max) at->tb[type] = a;
  return MNL_CB_OK;
}

std::string str_of(const nlattr* a) {
  if (!a) return {};
  const char* p = static_cast<const char*>(mnl_attr_get_payload(a));
  return std::string(p, strnlen(p, mnl_attr_get_payload_len(a)));
}

}  // namespace

ResetTargets reset_targets(std::span<const nfnl::Message> replies) {
  ResetTargets out;
  for (const nfnl::Message& m : replies) {
    if (m.size() < NLMSG_HDRLEN + sizeof(nfgenmsg)) continue;
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    if (nlh->nlmsg_len > m.size() || NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES) continue;
    const uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
    if (type != NFT_MSG_NEWRULE && type != NFT_MSG_NEWOBJ) continue;
    const auto* gen = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    Attrs at;
    at.max = type == NFT_MSG_NEWRULE ? NFTA_RULE_MAX : NFTA_OBJ_MAX;
    if (mnl_attr_parse(nlh, sizeof(nfgenmsg), collect, &at) < 0) continue;
    if (type == NFT_MSG_NEWRULE) {
      if (!at.tb[NFTA_RULE_HANDLE]) continue;
      out.rules.push_back(ResetRule{gen->nfgen_family, str_of(at.tb[NFTA_RULE_TABLE]), str_of(at.tb[NFTA_RULE_CHAIN]),
                                    be64toh(mnl_attr_get_u64(at.tb[NFTA_RULE_HANDLE]))});
    } else {
      out.objects.push_back(ResetObject{gen->nfgen_family, str_of(at.tb[NFTA_OBJ_TABLE]), str_of(at.tb[NFTA_OBJ_NAME]),
                                        at.tb[NFTA_OBJ_TYPE] ? ntohl(mnl_attr_get_u32(at.tb[NFTA_OBJ_TYPE])) : 0});
    }
  }
  return out;
}

}  // namespace nfbpf::offload
