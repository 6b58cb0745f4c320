// nft_compat without the kernel: revision answers and the match/target expression checks, each
// pinned to what nft_compat.c does (the kernel comparison itself is compat-tests' iptables-nft
// run, which needs root).
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_LOG.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cstring>

#include "nfnl-server/compat/compat_get.h"
#include "nfnl-server/compat/xt_expr.h"
#include "nfnl-server/nftables/msg_writer.h"

namespace nfbpf::nfnl::compat {
namespace {

std::vector<uint8_t> query(uint8_t family, const char* name, uint32_t rev, uint32_t type) {
  nftables::MsgWriter w(uint16_t((NFNL_SUBSYS_NFT_COMPAT << 8) | NFNL_MSG_COMPAT_GET),
                        NLM_F_REQUEST | NLM_F_ACK, 77, 0, family, 0);
  w.put_str(NFTA_COMPAT_NAME, name);
  w.put_be32(NFTA_COMPAT_REV, rev);
  w.put_be32(NFTA_COMPAT_TYPE, type);
  return w.finish();
}

// The revision the reply announces (and its header), or -errno.
int answer(uint8_t family, const char* name, uint32_t rev, uint32_t type) {
  auto r = handle_compat_request(query(family, name, rev, type), 4242, nullptr);
  if (!r) return -r.error().err;
  EXPECT_EQ(r->size(), 1u);
  const auto& m = r->front();
  nlmsghdr h;
  std::memcpy(&h, m.data(), sizeof(h));
  EXPECT_EQ(h.nlmsg_type, (NFNL_SUBSYS_NFT_COMPAT << 8) | NFNL_MSG_COMPAT_GET);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_MULTI);
  EXPECT_EQ(h.nlmsg_seq, 77u);
  EXPECT_EQ(h.nlmsg_pid, 4242u);
  EXPECT_EQ(m[NLMSG_HDRLEN], family);
  // NAME "name\0" padded, then REV.
  const size_t name_len = NLA_ALIGN(NLA_HDRLEN + strlen(name) + 1);
  const size_t rev_at = NLMSG_HDRLEN + 4 + name_len + NLA_HDRLEN;
  uint32_t v;
  std::memcpy(&v, m.data() + rev_at, 4);
  return int(ntohl(v));
}

TEST(CompatGet, AnswersAsXtFindRevision) {
  EXPECT_EQ(answer(AF_INET, "conntrack", 3, 0), 3);
  EXPECT_EQ(answer(AF_INET, "conntrack", 1, 0), 3);  // the best, since 1 exists
  EXPECT_EQ(answer(AF_INET, "conntrack", 0, 0), -EPROTONOSUPPORT);
  EXPECT_EQ(answer(AF_INET6, "icmp6", 0, 0), 0);
  EXPECT_EQ(answer(AF_INET, "icmp6", 0, 0), -ENOENT);  // IPv6 only
  EXPECT_EQ(answer(AF_INET, "no-such-match", 0, 0), -ENOENT);
  EXPECT_EQ(answer(AF_INET, "LOG", 0, 1), 0);
  EXPECT_EQ(answer(AF_INET, "LOG", 0, 0), -ENOENT);  // LOG is a target, not a match
  EXPECT_EQ(answer(AF_INET, "limit", 0, 0), 0);
  EXPECT_EQ(answer(NFPROTO_NETDEV, "limit", 0, 0), -EINVAL);  // not an x_tables family
  EXPECT_EQ(answer(AF_INET, "limit", 256, 0), -ERANGE);       // NLA_POLICY_MAX(NLA_BE32, 255)
}

TEST(CompatGet, MissingAttributeIsEinval) {
  nftables::MsgWriter w(uint16_t((NFNL_SUBSYS_NFT_COMPAT << 8) | NFNL_MSG_COMPAT_GET),
                        NLM_F_REQUEST, 1, 0, AF_INET, 0);
  w.put_str(NFTA_COMPAT_NAME, "limit");
  auto r = handle_compat_request(w.finish(), 1, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EINVAL);
}

nftables::Attr attr(uint16_t type, std::span<const uint8_t> payload) {
  nftables::Attr a;
  a.type = type;
  a.payload = payload;
  return a;
}

struct XtReq {
  std::vector<uint8_t> name, rev, info;
  std::map<uint16_t, nftables::Attr> given() const {
    return {{1, attr(1, name)}, {2, attr(2, rev)}, {3, attr(3, info)}};
  }
};

XtReq req(const char* name, uint32_t rev, std::vector<uint8_t> info) {
  XtReq r;
  r.name.assign(name, name + strlen(name) + 1);
  const uint32_t be = htonl(rev);
  r.rev.assign(reinterpret_cast<const uint8_t*>(&be), reinterpret_cast<const uint8_t*>(&be) + 4);
  r.info = std::move(info);
  return r;
}

TEST(XtExpr, LimitKeepsOnlyItsUserVisibleBytes) {
  xt_rateinfo ri{};
  ri.avg = 3333;
  ri.burst = 5;
  ri.prev = 0xdeadbeef;  // private state the kernel's dump clears
  ri.master = reinterpret_cast<xt_limit_priv*>(0x1234);
  std::vector<uint8_t> info(sizeof(ri));
  std::memcpy(info.data(), &ri, sizeof(ri));
  auto r = req("limit", 0, info);
  auto out = build_xt_expr(false, r.given(), {NFPROTO_IPV4, "filter", nullptr, nullptr});
  ASSERT_TRUE(out) << out.error().msg;
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].str(), "limit");
  EXPECT_EQ((*out)[1].be32(), 0u);
  const auto& data = (*out)[2].payload;
  ASSERT_EQ(data.size(), sizeof(ri));
  xt_rateinfo back;
  std::memcpy(&back, data.data(), sizeof(back));
  EXPECT_EQ(back.avg, 3333u);
  EXPECT_EQ(back.burst, 5u);
  EXPECT_EQ(back.prev, 0u);
  EXPECT_EQ(back.master, nullptr);
}

TEST(XtExpr, RefusesAsSelectOpsAndInit) {
  const XtExprContext ctx{NFPROTO_IPV4, "filter", nullptr, nullptr};
  // Unknown name: ENOENT. Short INFO: EINVAL. A reserved target name: EINVAL.
  auto unknown = build_xt_expr(false, req("no-such", 0, std::vector<uint8_t>(8)).given(), ctx);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().err, ENOENT);
  auto shrt = build_xt_expr(false, req("comment", 0, std::vector<uint8_t>(8)).given(), ctx);
  ASSERT_FALSE(shrt);
  EXPECT_EQ(shrt.error().err, EINVAL);
  auto err = build_xt_expr(true, req("ERROR", 0, std::vector<uint8_t>(32)).given(), ctx);
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().err, EINVAL);
  // LOG's checkentry: level 8 is out of range.
  xt_log_info log{};
  log.level = 8;
  std::vector<uint8_t> li(sizeof(log));
  std::memcpy(li.data(), &log, sizeof(log));
  auto bad_log = build_xt_expr(true, req("LOG", 0, li).given(), ctx);
  ASSERT_FALSE(bad_log);
  EXPECT_EQ(bad_log.error().err, EINVAL);
  log.level = 4;
  std::memcpy(li.data(), &log, sizeof(log));
  EXPECT_TRUE(build_xt_expr(true, req("LOG", 0, li).given(), ctx));
  // A larger INFO than registered is kept at the registered size when it aligns the same...
  std::vector<uint8_t> ci(sizeof(xt_comment_info), 'a');
  auto c = build_xt_expr(false, req("comment", 0, ci).given(), ctx);
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)[2].payload.size(), sizeof(xt_comment_info));
  // ...and refused when it does not (xt_check_match's size test).
  ci.resize(sizeof(xt_comment_info) + 8);
  auto big = build_xt_expr(false, req("comment", 0, ci).given(), ctx);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().err, EINVAL);
}

TEST(XtExpr, ValidateChecksHooksAndNatChains) {
  store::Expr e;
  e.name = "target";
  e.data.resize(2);
  e.data[0].type = 1;
  e.data[0].payload = {'R', 'E', 'J', 'E', 'C', 'T', 0};
  e.data[1].type = 2;
  e.data[1].payload = {0, 0, 0, 0};
  store::Chain c;
  c.hook.emplace();
  c.hook->hooknum = NF_INET_LOCAL_IN;
  EXPECT_TRUE(validate_xt_expr(e, NFPROTO_IPV4, c));
  c.hook->hooknum = NF_INET_POST_ROUTING;  // REJECT: INPUT, FORWARD, OUTPUT only
  auto r = validate_xt_expr(e, NFPROTO_IPV4, c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EINVAL);
  e.data[0].payload = {'M', 'A', 'S', 'Q', 'U', 'E', 'R', 'A', 'D', 'E', 0};
  r = validate_xt_expr(e, NFPROTO_IPV4, c);  // a filter chain at postrouting
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EINVAL);
  c.hook->type = "nat";
  EXPECT_TRUE(validate_xt_expr(e, NFPROTO_IPV4, c));
  r = validate_xt_expr(e, NFPROTO_NETDEV, c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EOPNOTSUPP);
}

}  // namespace
}  // namespace nfbpf::nfnl::compat
