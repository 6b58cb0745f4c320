// Set elements as the kernel keeps them: dump order per backend and the stateful expressions
// an element gets from its set. Checked against this machine's kernel with the shell dumps
// sets/concat_interval_0 (pipapo lists in insertion order) and sets/0060set_multistmt_0 (`set y
// { limit rate 1/second counter }` lists every element with its own limit and counter).
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "nfnl-server/nftables/protocol.h"
#include "nfnl-server/nftables/test_client.h"

namespace nfbpf::nftables {
namespace {

using testing::Batch;
using testing::Bytes;
using testing::first_error;

struct NoMulticast : nfnl::Multicast {
  void publish(uint32_t, nfnl::Message, uint32_t) override {}
};

nftnl_set* named_set(const std::string& name) {
  nftnl_set* s = nftnl_set_alloc();
  nftnl_set_set_str(s, NFTNL_SET_TABLE, "t");
  nftnl_set_set_str(s, NFTNL_SET_NAME, name.c_str());
  return s;
}

// An ipv4_addr . mark set with `flags interval` (pipapo in the kernel).
nftnl_set* concat_interval_set() {
  nftnl_set* s = named_set("s2");
  nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_CONCAT);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, (7 << 6) | 19);  // ipv4_addr . mark
  nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 8);
  nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
  const uint8_t fields[2] = {4, 4};
  nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields, sizeof fields);
  return s;
}

nftnl_set_elem* elem(std::vector<uint8_t> key, std::optional<std::vector<uint8_t>> key_end = {}) {
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key.data(), uint32_t(key.size()));
  if (key_end) nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, key_end->data(), uint32_t(key_end->size()));
  return e;
}

struct DumpedElem {
  std::vector<uint8_t> key;
  std::vector<std::string> exprs;
};

std::vector<DumpedElem> dump_elems(nfnl::NetlinkProtocol& p, const std::string& set) {
  NoMulticast mc;
  auto replies = p.handle(testing::admin_peer(),
                          testing::get_elems_request(NFPROTO_IPV4, named_set(set), NLM_F_DUMP, 9), mc);
  std::vector<DumpedElem> out;
  for (const auto& m : replies) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM)) continue;
    nftnl_set* s = nftnl_set_alloc();
    EXPECT_EQ(nftnl_set_elems_nlmsg_parse(nlh, s), 0);
    nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(s);
    for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it); e; e = nftnl_set_elems_iter_next(it)) {
      DumpedElem d;
      uint32_t len = 0;
      if (const void* k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len)) {
        auto* b = static_cast<const uint8_t*>(k);
        d.key.assign(b, b + len);
      }
      nftnl_set_elem_expr_foreach(
          e,
          [](nftnl_expr* x, void* data) {
            static_cast<DumpedElem*>(data)->exprs.emplace_back(nftnl_expr_get_str(x, NFTNL_EXPR_NAME));
            return 0;
          },
          &d);
      out.push_back(std::move(d));
    }
    nftnl_set_elems_iter_destroy(it);
    nftnl_set_free(s);
  }
  return out;
}

TEST(SetElemOrder, ConcatenatedIntervalsListInInsertionOrder) {
  auto p = make_nftables_protocol();
  // 20.20.20.20 . 0x200 first, then 10.10.10.10 . 0x100, then 15.15.15.15 . 0x150.
  const std::vector<uint8_t> a{20, 20, 20, 20, 0, 0, 2, 0}, b{10, 10, 10, 10, 0, 0, 1, 0},
      c{15, 15, 15, 15, 0, 0, 1, 0x50};
  nftnl_set* first = named_set("s2");
  nftnl_set_elem_add(first, elem(a, a));
  nftnl_set_elem_add(first, elem(b, b));
  nftnl_set* second = named_set("s2");
  nftnl_set_elem_add(second, elem(c, c));
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, concat_interval_set())
                                .elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, first)
                                .done()),
            0);
  ASSERT_EQ(first_error(*p, Batch().elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, second).done()), 0);
  auto got = dump_elems(*p, "s2");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].key, a);
  EXPECT_EQ(got[1].key, b);
  EXPECT_EQ(got[2].key, c);
  // Deleting the middle one keeps the others' order (pipapo compacts its rule array).
  nftnl_set* del = named_set("s2");
  nftnl_set_elem_add(del, elem(b, b));
  ASSERT_EQ(first_error(*p, Batch().elems(NFT_MSG_DELSETELEM, NFPROTO_IPV4, del, 0).done()), 0);
  got = dump_elems(*p, "s2");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, a);
  EXPECT_EQ(got[1].key, c);
}

TEST(SetElemOrder, SingleFieldIntervalsListFromTheGreatestKeyDown) {
  auto p = make_nftables_protocol();
  nftnl_set* s = named_set("iv");
  nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 7);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
  nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
  nftnl_set* els = named_set("iv");
  nftnl_set_elem_add(els, elem({1, 0, 0, 0}));
  nftnl_set_elem_add(els, elem({9, 0, 0, 0}));
  nftnl_set_elem_add(els, elem({5, 0, 0, 0}));
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, s)
                                .elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, els)
                                .done()),
            0);
  auto got = dump_elems(*p, "iv");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].key[0], 9);
  EXPECT_EQ(got[1].key[0], 5);
  EXPECT_EQ(got[2].key[0], 1);
}

// A stateful expression with the attributes its kernel ->init() requires.
nftnl_expr* stateful(const char* kind) {
  nftnl_expr* x = nftnl_expr_alloc(kind);
  if (std::string(kind) == "limit") {
    nftnl_expr_set_u64(x, NFTNL_EXPR_LIMIT_RATE, 1);
    nftnl_expr_set_u64(x, NFTNL_EXPR_LIMIT_UNIT, 1);
  }
  if (std::string(kind) == "quota") nftnl_expr_set_u64(x, NFTNL_EXPR_QUOTA_BYTES, 100);
  return x;
}

nftnl_set* plain_set(const std::string& name, std::vector<const char*> exprs) {
  nftnl_set* s = named_set(name);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 7);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
  nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
  if (exprs.size() > 1) nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_EXPR);
  for (const char* x : exprs) nftnl_set_add_expr(s, stateful(x));
  return s;
}

TEST(SetElemExprs, ElementsWithoutExpressionsGetCopiesOfTheSets) {
  auto p = make_nftables_protocol();
  nftnl_set* els = named_set("y");
  nftnl_set_elem_add(els, elem({1, 1, 1, 1}));
  nftnl_set_elem_add(els, elem({4, 4, 4, 4}));
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, plain_set("y", {"limit", "counter"}))
                                .elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, els)
                                .done()),
            0);
  auto got = dump_elems(*p, "y");
  ASSERT_EQ(got.size(), 2u);
  for (const auto& e : got) EXPECT_EQ(e.exprs, (std::vector<std::string>{"limit", "counter"}));
}

TEST(SetElemExprs, ElementExpressionsMustMatchTheSets) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, plain_set("y", {"counter"}))
                                .done()),
            0);
  nftnl_set* wrong = named_set("y");
  nftnl_set_elem* e = elem({1, 1, 1, 1});
  nftnl_set_elem_add_expr(e, stateful("quota"));
  nftnl_set_elem_add(wrong, e);
  EXPECT_EQ(first_error(*p, Batch().elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, wrong).done()),
            EOPNOTSUPP);
  // Three expressions: more than NFT_SET_EXPR_MAX.
  nftnl_set* many = named_set("y");
  e = elem({1, 1, 1, 1});
  for (int i = 0; i < 3; i++) nftnl_set_elem_add_expr(e, stateful("counter"));
  nftnl_set_elem_add(many, e);
  EXPECT_EQ(first_error(*p, Batch().elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, many).done()),
            EOPNOTSUPP);
  nftnl_set* right = named_set("y");
  e = elem({1, 1, 1, 1});
  nftnl_set_elem_add_expr(e, stateful("counter"));
  nftnl_set_elem_add(right, e);
  EXPECT_EQ(first_error(*p, Batch().elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, right).done()), 0);
}

TEST(SetElemExprs, LimitsInBytesDoNotFitASetLimitingPackets) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, plain_set("y", {"limit"}))
                                .done()),
            0);
  auto add = [&](uint32_t type) {
    nftnl_set* s = named_set("y");
    nftnl_set_elem* e = elem({1, 1, 1, 1});
    nftnl_expr* x = stateful("limit");
    nftnl_expr_set_u32(x, NFTNL_EXPR_LIMIT_TYPE, type);
    nftnl_set_elem_add_expr(e, x);
    nftnl_set_elem_add(s, e);
    return first_error(*p, Batch().elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, s).done());
  };
  EXPECT_EQ(add(NFT_LIMIT_PKT_BYTES), EOPNOTSUPP);
  EXPECT_EQ(add(NFT_LIMIT_PKTS), 0);
}

TEST(SetElemExprs, OnlyStatefulExpressionsFitASet) {
  auto p = make_nftables_protocol();
  nftnl_set* s = plain_set("y", {});
  nftnl_expr* notrack = nftnl_expr_alloc("notrack");
  nftnl_set_add_expr(s, notrack);
  EXPECT_EQ(first_error(*p, Batch().table(NFPROTO_IPV4, "t").set(NFT_MSG_NEWSET, NFPROTO_IPV4, s).done()),
            EOPNOTSUPP);
}

// Element updates (re-adding an existing element without NLM_F_EXCL), as 6.18 does them; the
// byte-level replies, including the new generations, are in testdata/elem_update.cap.

struct Recorder : nfnl::Multicast {
  std::vector<nfnl::Message> msgs;
  void publish(uint32_t, nfnl::Message m, uint32_t) override { msgs.push_back(std::move(m)); }
  size_t count(uint16_t nft_msg) const {
    size_t n = 0;
    for (const auto& m : msgs)
      n += reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | nft_msg);
    return n;
  }
};

nftnl_set* timeout_set(const std::string& name, uint64_t timeout_ms) {
  nftnl_set* s = named_set(name);
  nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 7);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
  nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
  if (timeout_ms) nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, timeout_ms);
  return s;
}

// One element of set `set` with an optional timeout / expiration, as NEWSETELEM.
Bytes add_elem(const std::string& set, std::vector<uint8_t> key, uint64_t timeout_ms = 0,
               uint64_t expiration_ms = 0, uint16_t flags = NLM_F_CREATE) {
  nftnl_set* s = named_set(set);
  nftnl_set_elem* e = elem(std::move(key));
  if (timeout_ms) nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
  if (expiration_ms) nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_EXPIRATION, expiration_ms);
  nftnl_set_elem_add(s, e);
  return Batch().elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, s, flags).done();
}

struct Sent {
  int err = 0;
  size_t notified_elems = 0, generations = 0;
};

Sent send(nfnl::NetlinkProtocol& p, const Bytes& req) {
  Recorder mc;
  Sent out;
  for (const auto& r : testing::parse_replies(p.handle(testing::admin_peer(), req, mc)))
    if (r.type == NLMSG_ERROR && r.error && !out.err) out.err = -r.error;
  out.notified_elems = mc.count(NFT_MSG_NEWSETELEM);
  out.generations = mc.count(NFT_MSG_NEWGEN);
  return out;
}

// The TIMEOUT attribute of the dumped element (0: none), read with libnftnl.
uint64_t dumped_timeout(nfnl::NetlinkProtocol& p, const std::string& set) {
  NoMulticast mc;
  for (const auto& m : p.handle(testing::admin_peer(),
                                testing::get_elems_request(NFPROTO_IPV4, named_set(set), NLM_F_DUMP, 9), mc)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM)) continue;
    nftnl_set* s = nftnl_set_alloc();
    nftnl_set_elems_nlmsg_parse(nlh, s);
    nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(s);
    uint64_t t = 0;
    if (nftnl_set_elem* e = nftnl_set_elems_iter_next(it); e && nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT))
      t = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
    nftnl_set_elems_iter_destroy(it);
    nftnl_set_free(s);
    if (t) return t;
  }
  return 0;
}

TEST(SetElemUpdate, ReAddingAPlainElementChangesNothing) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch().table(NFPROTO_IPV4, "t").set(NFT_MSG_NEWSET, NFPROTO_IPV4, plain_set("s", {})).done()), 0);
  ASSERT_EQ(send(*p, add_elem("s", {1, 1, 1, 1})).err, 0);
  Sent again = send(*p, add_elem("s", {1, 1, 1, 1}));
  EXPECT_EQ(again.err, 0);
  EXPECT_EQ(again.notified_elems, 0u);
  EXPECT_EQ(again.generations, 0u);  // an empty transaction commits nothing
  EXPECT_EQ(send(*p, add_elem("s", {1, 1, 1, 1}, 0, 0, NLM_F_CREATE | NLM_F_EXCL)).err, EEXIST);
}

TEST(SetElemUpdate, ANewTimeoutIsAppliedAndAnnounced) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch().table(NFPROTO_IPV4, "t").set(NFT_MSG_NEWSET, NFPROTO_IPV4, timeout_set("tt", 3600000)).done()), 0);
  ASSERT_EQ(send(*p, add_elem("tt", {2, 2, 2, 2})).err, 0);
  EXPECT_EQ(dumped_timeout(*p, "tt"), 0u);  // the set's default is not dumped
  Sent upd = send(*p, add_elem("tt", {2, 2, 2, 2}, 600000));
  EXPECT_EQ(upd.err, 0);
  EXPECT_EQ(upd.notified_elems, 1u);
  EXPECT_EQ(upd.generations, 1u);
  EXPECT_EQ(dumped_timeout(*p, "tt"), 600000u);
  // The same timeout again: nothing to update.
  Sent same = send(*p, add_elem("tt", {2, 2, 2, 2}, 600000));
  EXPECT_EQ(same.notified_elems, 0u);
  EXPECT_EQ(same.generations, 0u);
  // No timeout given means the set's default: back to one hour (not dumped).
  EXPECT_EQ(send(*p, add_elem("tt", {2, 2, 2, 2})).notified_elems, 1u);
  EXPECT_EQ(dumped_timeout(*p, "tt"), 0u);
}

TEST(SetElemUpdate, AnAbortedUpdateLeavesTheElementAsItWas) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch().table(NFPROTO_IPV4, "t").set(NFT_MSG_NEWSET, NFPROTO_IPV4, timeout_set("tt", 3600000)).done()), 0);
  ASSERT_EQ(send(*p, add_elem("tt", {2, 2, 2, 2}, 600000)).err, 0);
  nftnl_set* upd = named_set("tt");
  nftnl_set_elem* e = elem({2, 2, 2, 2});
  nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, 60000);
  nftnl_set_elem_add(upd, e);
  EXPECT_EQ(first_error(*p, Batch()
                                .elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, upd)
                                .rule_jump(NFPROTO_IPV4, "t", "nosuch", "x")
                                .done()),
            ENOENT);
  EXPECT_EQ(dumped_timeout(*p, "tt"), 600000u);
}

TEST(SetElemUpdate, ExpirationNeedsATimeoutItDoesNotExceed) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, timeout_set("tt", 3600000))
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, timeout_set("nt", 0))
                                .done()),
            0);
  EXPECT_EQ(send(*p, add_elem("tt", {3, 3, 3, 3}, 1200000, 1800000)).err, ERANGE);
  EXPECT_EQ(send(*p, add_elem("tt", {3, 3, 3, 3}, 0, 1800000)).err, 0);  // under the default hour
  EXPECT_EQ(send(*p, add_elem("nt", {6, 6, 6, 6}, 0, 60000)).err, EOPNOTSUPP);
}

TEST(SetElemUpdate, OtherDataForAnExistingKeyIsEexist) {
  auto p = make_nftables_protocol();
  nftnl_set* m = named_set("m");
  nftnl_set_set_u32(m, NFTNL_SET_FLAGS, NFT_SET_MAP);
  nftnl_set_set_u32(m, NFTNL_SET_KEY_TYPE, 13);
  nftnl_set_set_u32(m, NFTNL_SET_KEY_LEN, 2);
  nftnl_set_set_u32(m, NFTNL_SET_DATA_TYPE, 7);
  nftnl_set_set_u32(m, NFTNL_SET_DATA_LEN, 4);
  nftnl_set_set_u32(m, NFTNL_SET_ID, 1);
  auto map_elem = [](uint8_t last) {
    nftnl_set* s = named_set("m");
    nftnl_set_elem* e = elem({0, 80});
    const uint8_t addr[4] = {10, 0, 0, last};
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, addr, 4);
    nftnl_set_elem_add(s, e);
    return Batch().elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, s).done();
  };
  ASSERT_EQ(first_error(*p, Batch().table(NFPROTO_IPV4, "t").set(NFT_MSG_NEWSET, NFPROTO_IPV4, m).done()), 0);
  ASSERT_EQ(first_error(*p, map_elem(1)), 0);
  EXPECT_EQ(first_error(*p, map_elem(1)), 0);
  EXPECT_EQ(first_error(*p, map_elem(2)), EEXIST);
}

TEST(SetElemUpdate, OverlappingConcatenatedRangesAreEexist) {
  auto p = make_nftables_protocol();
  const std::vector<uint8_t> lo{10, 0, 0, 0, 0, 0, 0, 80}, hi{10, 255, 255, 255, 0, 0, 0, 90};
  nftnl_set* first = named_set("s2");
  nftnl_set_elem_add(first, elem(lo, hi));
  ASSERT_EQ(first_error(*p, Batch()
                                .table(NFPROTO_IPV4, "t")
                                .set(NFT_MSG_NEWSET, NFPROTO_IPV4, concat_interval_set())
                                .elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, first)
                                .done()),
            0);
  auto add = [&](std::vector<uint8_t> a, std::vector<uint8_t> b) {
    nftnl_set* s = named_set("s2");
    nftnl_set_elem_add(s, elem(std::move(a), std::move(b)));
    return first_error(*p, Batch().elems(NFT_MSG_NEWSETELEM, NFPROTO_IPV4, s).done());
  };
  EXPECT_EQ(add(lo, hi), 0);                                     // the same range: no-op
  EXPECT_EQ(add({10, 1, 0, 0, 0, 0, 0, 85}, {10, 1, 255, 255, 0, 0, 0, 85}), EEXIST);  // inside
  EXPECT_EQ(add({9, 0, 0, 0, 0, 0, 0, 85}, {10, 0, 0, 1, 0, 0, 0, 85}), EEXIST);       // end inside
  EXPECT_EQ(add({11, 0, 0, 0, 0, 0, 0, 85}, {11, 0, 0, 0, 0, 0, 0, 85}), 0);           // outside
}

}  // namespace
}  // namespace nfbpf::nftables
