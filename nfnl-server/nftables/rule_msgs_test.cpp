// NEWRULE error offsets: whatever fails inside an expression, nf_tables_newrule() reports the
// expression's list element (nft draws its caret from it). Checked against this machine's
// kernel: `nft add rule ip t c jump nosuch` underlines the verdict, not the whole command.
#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstring>
#include <optional>

#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/test_client.h"

namespace nfbpf::nftables {
namespace {

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

// Walks the attributes in [from, to) of `b`; returns the offset of the first of type `type`.
std::optional<size_t> find_attr(const testing::Bytes& b, size_t from, size_t to, uint16_t type) {
  while (from + NLA_HDRLEN <= to) {
    nlattr a;
    std::memcpy(&a, b.data() + from, sizeof a);
    if (a.nla_len < NLA_HDRLEN) return std::nullopt;
    if ((a.nla_type & NLA_TYPE_MASK) == type) return from;
    from += NLA_ALIGN(a.nla_len);
  }
  return std::nullopt;
}

TEST(RuleErrors, JumpToMissingChainPointsAtTheListElement) {
  auto p = make_nftables_protocol();
  nfnl::Peer peer;
  peer.portid = 6;
  peer.pid = 6;
  peer.cap_net_admin = true;
  peer.ext_ack = true;
  NoMulticast mc;
  p->handle(peer, testing::Batch().table(NFPROTO_IPV4, "t").chain(NFPROTO_IPV4, "t", "c").done(), mc);

  const testing::Bytes req = testing::Batch(40).rule_jump(NFPROTO_IPV4, "t", "c", "nosuch").done();
  // The NEWRULE is the second message; its first NFTA_LIST_ELEM, relative to its header.
  const size_t msg = NLMSG_ALIGN(reinterpret_cast<const nlmsghdr*>(req.data())->nlmsg_len);
  const size_t msg_end = msg + reinterpret_cast<const nlmsghdr*>(req.data() + msg)->nlmsg_len;
  auto list = find_attr(req, msg + NLMSG_HDRLEN + sizeof(nfgenmsg), msg_end, NFTA_RULE_EXPRESSIONS);
  ASSERT_TRUE(list);
  auto elem = find_attr(req, *list + NLA_HDRLEN, msg_end, NFTA_LIST_ELEM);
  ASSERT_TRUE(elem);
  // The jump is the rule's only expression (immediate).
  const uint32_t want = uint32_t(*elem - msg);

  std::optional<uint32_t> offs;
  int err = 0;
  for (const auto& r : testing::parse_replies(p->handle(peer, req, mc))) {
    if (r.type != NLMSG_ERROR || !r.error) continue;
    err = -r.error;
    const auto* h = reinterpret_cast<const nlmsghdr*>(r.bytes.data());
    ASSERT_TRUE(h->nlmsg_flags & NLM_F_ACK_TLVS);
    const auto* e = reinterpret_cast<const nlmsgerr*>(r.bytes.data() + NLMSG_HDRLEN);
    size_t tlv = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (!(h->nlmsg_flags & NLM_F_CAPPED)) tlv += NLMSG_ALIGN(e->msg.nlmsg_len) - sizeof(nlmsghdr);
    if (auto at = find_attr(r.bytes, tlv, h->nlmsg_len, NLMSGERR_ATTR_OFFS)) {
      uint32_t v;
      std::memcpy(&v, r.bytes.data() + *at + NLA_HDRLEN, 4);
      offs = v;
    }
  }
  EXPECT_EQ(err, ENOENT);
  ASSERT_TRUE(offs);
  EXPECT_EQ(*offs, want);
}

}  // namespace
}  // namespace nfbpf::nftables
