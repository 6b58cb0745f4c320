// Table flags as this machine's kernel handles them (testdata/table_flags.cap has the byte-level
// replies of the nft side): NFT_TABLE_F_OWNER tables belong to the socket that created them and
// go away with it (no notification, no new generation); PERSIST ones stay as orphans another
// socket may adopt; dormancy toggles once per batch, and an owned table cannot be toggled.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstring>
#include <string>

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

Bytes table_with_flags(const std::string& name, uint32_t flags, uint16_t nlflags = NLM_F_CREATE) {
  nftnl_table* t = nftnl_table_alloc();
  nftnl_table_set_str(t, NFTNL_TABLE_NAME, name.c_str());
  nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
  return Batch().table_msg(NFT_MSG_NEWTABLE, NFPROTO_IPV4, t, nlflags).done();
}

struct TableInfo {
  bool exists = false;
  uint32_t flags = 0;
  uint32_t owner = 0;
};

TableInfo table_info(nfnl::NetlinkProtocol& p, const std::string& name) {
  NoMulticast mc;
  TableInfo out;
  for (const auto& m : p.handle(testing::admin_peer(99),
                                testing::get_request(NFT_MSG_GETTABLE, NFPROTO_IPV4, NLM_F_DUMP, 5), mc)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)) continue;
    nftnl_table* t = nftnl_table_alloc();
    EXPECT_EQ(nftnl_table_nlmsg_parse(nlh, t), 0);
    if (name == nftnl_table_get_str(t, NFTNL_TABLE_NAME)) {
      out.exists = true;
      out.flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
      // NFTA_TABLE_OWNER: libnftnl 1.2.4 parses it as NFTNL_TABLE_OWNER.
      if (nftnl_table_is_set(t, NFTNL_TABLE_OWNER)) out.owner = nftnl_table_get_u32(t, NFTNL_TABLE_OWNER);
    }
    nftnl_table_free(t);
  }
  return out;
}

uint32_t genid(nfnl::NetlinkProtocol& p) {
  NoMulticast mc;
  auto r = p.handle(testing::admin_peer(), testing::get_request(NFT_MSG_GETGEN, NFPROTO_UNSPEC, 0, 3), mc);
  uint16_t id;
  std::memcpy(&id, r.at(0).data() + NLMSG_HDRLEN + 2, 2);
  return ntohs(id);
}

TEST(TableOwner, OthersGetEpermAndTheTableGoesWithItsSocket) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, table_with_flags("o", NFT_TABLE_F_OWNER), 10), 0);
  ASSERT_EQ(first_error(*p, Batch().chain(NFPROTO_IPV4, "o", "c").done(), 10), 0);
  EXPECT_EQ(table_info(*p, "o").owner, 10u);
  EXPECT_EQ(first_error(*p, Batch().chain(NFPROTO_IPV4, "o", "d").done(), 11), EPERM);
  // Another socket's `flush ruleset` leaves the owned table alone.
  nftnl_table* all = nftnl_table_alloc();
  ASSERT_EQ(first_error(*p, Batch().table_msg(NFT_MSG_DELTABLE, NFPROTO_UNSPEC, all).done(), 11), 0);
  EXPECT_TRUE(table_info(*p, "o").exists);
  const uint32_t gen = genid(*p);
  p->released(11);  // not the owner: nothing happens
  EXPECT_TRUE(table_info(*p, "o").exists);
  p->released(10);
  EXPECT_FALSE(table_info(*p, "o").exists);
  EXPECT_EQ(genid(*p), gen);  // no new generation
  // The name is free again, for anyone.
  EXPECT_EQ(first_error(*p, Batch().table(NFPROTO_IPV4, "o").done(), 11), 0);
}

TEST(TableOwner, PersistentTablesAreOrphanedAndCanBeAdopted) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, table_with_flags("pt", NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST), 10), 0);
  p->released(10);
  TableInfo orphan = table_info(*p, "pt");
  ASSERT_TRUE(orphan.exists);
  EXPECT_EQ(orphan.flags, NFT_TABLE_F_PERSIST);
  EXPECT_EQ(orphan.owner, 0u);
  // PERSIST cannot be dropped; OWNER|PERSIST adopts the orphan.
  EXPECT_EQ(first_error(*p, table_with_flags("pt", 0), 12), EOPNOTSUPP);
  ASSERT_EQ(first_error(*p, table_with_flags("pt", NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST), 12), 0);
  EXPECT_EQ(table_info(*p, "pt").owner, 12u);
  EXPECT_EQ(first_error(*p, Batch().chain(NFPROTO_IPV4, "pt", "c").done(), 13), EPERM);
}

TEST(TableOwner, AnOwnedTableKeepsItsFlags) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, table_with_flags("o", NFT_TABLE_F_OWNER), 10), 0);
  // Dropping OWNER, or sending it for a table that is no orphan, is EOPNOTSUPP (so the owner
  // cannot make it dormant either; checked with nft on 6.18).
  EXPECT_EQ(first_error(*p, table_with_flags("o", NFT_TABLE_F_DORMANT), 10), EOPNOTSUPP);
  EXPECT_EQ(first_error(*p, table_with_flags("o", NFT_TABLE_F_OWNER | NFT_TABLE_F_DORMANT), 10), EOPNOTSUPP);
  EXPECT_EQ(first_error(*p, table_with_flags("o", NFT_TABLE_F_OWNER), 10), 0);  // unchanged
}

TEST(TableDormant, OneDormancyChangePerBatch) {
  auto p = make_nftables_protocol();
  ASSERT_EQ(first_error(*p, table_with_flags("d", NFT_TABLE_F_DORMANT)), 0);
  EXPECT_EQ(table_info(*p, "d").flags, uint32_t(NFT_TABLE_F_DORMANT));
  // Wake, then sleep again in one batch: EINVAL, and the table stays dormant.
  nftnl_table* wake = nftnl_table_alloc();
  nftnl_table_set_str(wake, NFTNL_TABLE_NAME, "d");
  nftnl_table_set_u32(wake, NFTNL_TABLE_FLAGS, 0);
  nftnl_table* sleep = nftnl_table_alloc();
  nftnl_table_set_str(sleep, NFTNL_TABLE_NAME, "d");
  nftnl_table_set_u32(sleep, NFTNL_TABLE_FLAGS, NFT_TABLE_F_DORMANT);
  EXPECT_EQ(first_error(*p, Batch()
                                .table_msg(NFT_MSG_NEWTABLE, NFPROTO_IPV4, wake, NLM_F_CREATE)
                                .table_msg(NFT_MSG_NEWTABLE, NFPROTO_IPV4, sleep, NLM_F_CREATE)
                                .done()),
            EINVAL);
  EXPECT_EQ(table_info(*p, "d").flags, uint32_t(NFT_TABLE_F_DORMANT));
  // Waking twice in one batch: the second sees the table already awake (applied when staged).
  nftnl_table* w1 = nftnl_table_alloc();
  nftnl_table_set_str(w1, NFTNL_TABLE_NAME, "d");
  nftnl_table_set_u32(w1, NFTNL_TABLE_FLAGS, 0);
  nftnl_table* w2 = nftnl_table_alloc();
  nftnl_table_set_str(w2, NFTNL_TABLE_NAME, "d");
  nftnl_table_set_u32(w2, NFTNL_TABLE_FLAGS, 0);
  EXPECT_EQ(first_error(*p, Batch()
                                .table_msg(NFT_MSG_NEWTABLE, NFPROTO_IPV4, w1, NLM_F_CREATE)
                                .table_msg(NFT_MSG_NEWTABLE, NFPROTO_IPV4, w2, NLM_F_CREATE)
                                .done()),
            0);
  EXPECT_EQ(table_info(*p, "d").flags, 0u);
}

// What the commit hook sees: the table's new flags at prepare(), and the owner's tables leaving.
class FlagsHook : public CommitHook {
 public:
  std::vector<uint32_t>* flags_seen;
  std::vector<size_t>* tables_seen;
  FlagsHook(std::vector<uint32_t>* f, std::vector<size_t>* t) : flags_seen(f), tables_seen(t) {}
  Result<void> prepare(const store::Ruleset& next) override {
    size_t n = 0;
    for (const auto& t : next.tables)
      if (t->vis.next) {
        n++;
        flags_seen->push_back(t->flags);
      }
    tables_seen->push_back(n);
    return {};
  }
  void commit() override {}
  void abort() override {}
};

TEST(TableFlagsHook, PrepareSeesDormancyAndTheReleasedTablesGone) {
  std::vector<uint32_t> flags;
  std::vector<size_t> tables;
  auto p = make_nftables_protocol(std::make_unique<FlagsHook>(&flags, &tables));
  ASSERT_EQ(first_error(*p, table_with_flags("o", NFT_TABLE_F_OWNER), 10), 0);
  ASSERT_EQ(first_error(*p, table_with_flags("d", 0), 11), 0);
  ASSERT_EQ(first_error(*p, table_with_flags("d", NFT_TABLE_F_DORMANT), 11), 0);
  EXPECT_EQ(flags.back(), uint32_t(NFT_TABLE_F_DORMANT));
  EXPECT_EQ(tables.back(), 2u);
  p->released(10);
  EXPECT_EQ(tables.back(), 1u);
}

}  // namespace
}  // namespace nfbpf::nftables
