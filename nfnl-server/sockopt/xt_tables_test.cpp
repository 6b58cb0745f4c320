// The x_tables sockopt handler, byte level. The "Kernel" tests (root) run the same sequences
// against the kernel's ip_tables/ip6_tables inside a fresh network namespace and require
// identical return values, errnos and bytes.

#include "nfnl-server/sockopt/xt_tables.h"

#include "nfnl-server/sockopt/ipt_service.h"

#include <gtest/gtest.h>

#include <cstring>

#include "nfnl-server/sockopt/testing/backends.h"
#include "nfnl-server/sockopt/testing/blob_builder.h"
#include "nfnl-server/sockopt/testing/scenarios.h"

namespace nfbpf::nfnl::sockopt {
namespace {

using testing::Observation;
using testing::StoreBackend;
using testing::Trace;

const Observation* find_obs(const Trace& t, const std::string& what) {
  for (const Observation& o : t) {
    if (o.what == what) return &o;
  }
  ADD_FAILURE() << "no observation '" << what << "'";
  static const Observation missing{"missing", -99999, {}};
  return &missing;
}

TEST(XtTables, InitialFilterTableHasThePolicyRulesAndTheErrorEntry) {
  StoreBackend b;
  Trace t;
  testing::scenario_initial_tables(b, t);
  const Observation* info = find_obs(t, "ip GET_INFO filter len 84");
  ASSERT_NE(info, nullptr);
  ASSERT_EQ(info->ret, 0);
  ipt_getinfo gi;
  std::memcpy(&gi, info->bytes.data(), sizeof(gi));
  EXPECT_STREQ(gi.name, "filter");
  EXPECT_EQ(gi.valid_hooks, 0b01110u);
  EXPECT_EQ(gi.num_entries, 4u);
  // three ipt_standard (112 + 40) and one ipt_error (112 + 64)
  EXPECT_EQ(gi.size, 3 * 152u + 176u);
  EXPECT_EQ(gi.hook_entry[NF_INET_PRE_ROUTING], 0xFFFFFFFFu);
  EXPECT_EQ(gi.hook_entry[NF_INET_LOCAL_IN], 0u);
  EXPECT_EQ(gi.hook_entry[NF_INET_FORWARD], 152u);
  EXPECT_EQ(gi.underflow[NF_INET_LOCAL_OUT], 304u);

  const Observation* entries = find_obs(t, "ip GET_ENTRIES filter size 632 extra 0 delta 0");
  ASSERT_NE(entries, nullptr);
  ASSERT_EQ(entries->ret, 0);
  const uint8_t* e = entries->bytes.data() + sizeof(ipt_get_entries);
  // comefrom: the hook mask mark_source_chains computed (INPUT for the first policy rule).
  EXPECT_EQ(load<uint32_t>(e + offsetof(ipt_entry, comefrom)), 1u << NF_INET_LOCAL_IN);
  EXPECT_EQ(load<int>(e + sizeof(ipt_entry) + sizeof(xt_entry_target)), -NF_ACCEPT - 1);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(e + 3 * 152 + sizeof(ipt_entry) + 2)), "ERROR");
}

TEST(XtTables, LengthsAndNamesAreCheckedAsTheKernelDoes) {
  StoreBackend b;
  Trace t;
  testing::scenario_initial_tables(b, t);
  EXPECT_EQ(find_obs(t, "ip GET_INFO filter len 83")->ret, -EINVAL);
  EXPECT_EQ(find_obs(t, "ip GET_INFO nosuch len 84")->ret, -ENOENT);
  EXPECT_EQ(find_obs(t, "ip GET_ENTRIES filter size 632 extra -1 delta 0")->ret, -EINVAL);
  EXPECT_EQ(find_obs(t, "ip GET_ENTRIES filter size 624 extra 0 delta 0")->ret, -EAGAIN);
  EXPECT_EQ(find_obs(t, "ip6 GET_ENTRIES nosuch size 856 extra 0 delta 0")->ret, -ENOENT);
  EXPECT_EQ(find_obs(t, "ip match tcp rev 0")->ret, 0);
  EXPECT_EQ(find_obs(t, "ip match tcp rev 5")->ret, -EPROTONOSUPPORT);
  EXPECT_EQ(find_obs(t, "ip match icmp6 rev 0")->ret, -ENOENT);
  EXPECT_EQ(find_obs(t, "ip6 match icmp6 rev 0")->ret, 0);
  EXPECT_EQ(find_obs(t, "ip target nosuch rev 0")->ret, -ENOENT);
}

// The backend seam: the hook sees the table SET_REPLACE would install, and its refusal fails the
// call with its errno and leaves the table as it was.
TEST(XtTables, ReplaceHookSeesTheNewTableAndItsRefusalChangesNothing) {
  StoreBackend ok;
  int calls = 0;
  uint32_t seen_entries = 0;
  ok.store().family(AF_INET).set_replace_hook([&](int family, const XtTable& next) -> Result<void> {
    ++calls;
    EXPECT_EQ(family, AF_INET);
    EXPECT_EQ(next.name, "filter");
    EXPECT_EQ(next.counters.size(), next.info.number);
    if (calls == 1) seen_entries = next.info.number;
    return {};
  });
  Trace t;
  testing::scenario_replace_and_counters(ok, t);
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE filter ruleset")->ret, 0);
  EXPECT_GE(calls, 2);
  EXPECT_EQ(seen_entries, 10u);

  StoreBackend refusing;
  refusing.store().family(AF_INET).set_replace_hook([](int, const XtTable&) -> Result<void> {
    return fail(EOPNOTSUPP, "REJECT: sends ICMP errors");
  });
  Trace t2;
  testing::scenario_replace_and_counters(refusing, t2);
  EXPECT_EQ(find_obs(t2, "ip SET_REPLACE filter ruleset")->ret, -EOPNOTSUPP);
  const XtTable* filter = refusing.store().family(AF_INET).find("filter");
  ASSERT_NE(filter, nullptr);
  EXPECT_EQ(filter->info.number, 4u);  // still the initial table
  EXPECT_EQ(refusing.store().family(AF_INET).generation(), 0u);
}

TEST(XtTables, ReplaceWritesBackOldCountersAndAddCountersChecksTheCount) {
  StoreBackend b;
  Trace t;
  testing::scenario_replace_and_counters(b, t);
  const Observation* first = find_obs(t, "ip SET_REPLACE filter ruleset");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->ret, 0);
  EXPECT_EQ(first->bytes, std::vector<uint8_t>(4 * sizeof(xt_counters), 0));
  EXPECT_EQ(find_obs(t, "ip ADD_COUNTERS filter n 10 announced 10")->ret, 0);
  EXPECT_EQ(find_obs(t, "ip ADD_COUNTERS filter n 9 announced 9")->ret, -EINVAL);
  EXPECT_EQ(find_obs(t, "ip ADD_COUNTERS filter n 10 announced 11")->ret, -EINVAL);
  EXPECT_EQ(find_obs(t, "ip ADD_COUNTERS nosuch n 10 announced 10")->ret, -ENOENT);
  const Observation* again = find_obs(t, "ip SET_REPLACE filter ruleset again");
  ASSERT_NE(again, nullptr);
  ASSERT_EQ(again->ret, 0);
  ASSERT_EQ(again->bytes.size(), 10 * sizeof(xt_counters));
  const auto c3 = load<xt_counters>(again->bytes.data() + 3 * sizeof(xt_counters));
  EXPECT_EQ(c3.pcnt, 307u);
  EXPECT_EQ(c3.bcnt, 4u);
  const XtTable* filter = b.store().family(AF_INET).find("filter");
  ASSERT_NE(filter, nullptr);
  EXPECT_EQ(filter->info.number, 10u);
}

TEST(XtTables, EveryBadBlobIsRefusedAndChangesNothing) {
  StoreBackend b;
  Trace t;
  testing::scenario_bad_blobs(b, t);
  int refused = 0;
  for (const Observation& o : t) {
    if (o.what.find("SET_REPLACE") == std::string::npos || o.what.ends_with(" good") ||
        o.what.ends_with("(accepted)")) {
      continue;
    }
    EXPECT_LT(o.ret, 0) << o.what;
    ++refused;
  }
  EXPECT_GE(refused, 70);
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE loop")->ret, -ELOOP);
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE jump into a rule")->ret, -ELOOP);
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE num_counters off by one")->ret, -EAGAIN);
  // optlen no longer covers the announced size (checked before the size itself, 6.9+)
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE size huge")->ret, -EINVAL);
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE num_counters huge")->ret, -ENOMEM);
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE unknown target")->ret, -ENOENT);
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE unknown table")->ret, -EINVAL);  // REJECT is filter-only
  EXPECT_EQ(find_obs(t, "ip SET_REPLACE jump to the chain head (accepted)")->ret, 0);
  EXPECT_EQ(b.store().family(AF_INET).find("filter")->info.number, 10u);
  // The good ruleset and the accepted jump to a chain head: nothing else got in.
  EXPECT_EQ(b.store().family(AF_INET).generation(), 2u);
}

TEST(XtTables, ProcNamesListLookedUpTablesNewestFirst) {
  XtTables v4(AF_INET);
  EXPECT_EQ(v4.proc_names(), "");
  for (const char* name : {"nat", "filter"}) {
    std::vector<uint8_t> buf(sizeof(ipt_getinfo), 0);
    std::strcpy(reinterpret_cast<char*>(buf.data()), name);
    EXPECT_EQ(v4.get(IPT_SO_GET_INFO, buf, sizeof(ipt_getinfo)).status, 0);
  }
  EXPECT_EQ(v4.proc_names(), "filter\nnat\n");
}

TEST(IptService, RoutesByFamilyOptionAndDirection) {
  IptSockopts tables;
  std::vector<uint8_t> info(sizeof(ipt_getinfo), 0);
  std::strcpy(reinterpret_cast<char*>(info.data()), "raw");
  const int len = sizeof(ipt_getinfo);
  EXPECT_EQ(serve(tables, {AF_INET6, IP6T_SO_GET_INFO, len, false, info}).status, 0);
  // Only the IPv6 side has looked "raw" up.
  EXPECT_EQ(serve(tables, {AF_INET6, kProcNames, 0, false, {}}).data,
            (std::vector<uint8_t>{'r', 'a', 'w', '\n'}));
  EXPECT_TRUE(serve(tables, {AF_INET, kProcNames, 0, false, {}}).data.empty());
  EXPECT_EQ(serve(tables, {AF_UNIX, IPT_SO_GET_INFO, len, false, info}).status, -EAFNOSUPPORT);
  // Outside nf_sockopt's ranges: IPv4 has no 68/69, and no set option past 65.
  EXPECT_EQ(serve(tables, {AF_INET, IP6T_SO_GET_REVISION_MATCH, 30, false, info}).status,
            -ENOPROTOOPT);
  EXPECT_EQ(serve(tables, {AF_INET, IPT_SO_GET_REVISION_TARGET, 30, true, info}).status,
            -ENOPROTOOPT);
  // In range but unused by ip6_tables: do_ip6t_get_ctl's default.
  EXPECT_EQ(serve(tables, {AF_INET6, IPT_SO_GET_REVISION_MATCH, 30, false, info}).status, -EINVAL);
}

// --- against the kernel (root: unshare(CLONE_NEWNET), raw sockets) ---

void expect_same_as_kernel(void (*scenario)(testing::Backend&, Trace&)) {
  const Trace kernel = testing::run_in_kernel_netns(scenario);
  ASSERT_GT(kernel.size(), 5u) << (kernel.empty() ? "" : kernel[0].what);
  StoreBackend ours;
  Trace trace;
  scenario(ours, trace);
  EXPECT_EQ(testing::first_difference(kernel, trace), "");
}

TEST(XtTablesKernel, InitialTablesRevisionsAndErrorsMatchTheKernel) {
  expect_same_as_kernel(testing::scenario_initial_tables);
}

TEST(XtTablesKernel, ReplaceAndCountersMatchTheKernel) {
  expect_same_as_kernel(testing::scenario_replace_and_counters);
}

TEST(XtTablesKernel, BadBlobErrnosMatchTheKernel) {
  expect_same_as_kernel(testing::scenario_bad_blobs);
}

// A seeded differential fuzz: 2 000 random corruptions, same errno or same accepted table.
TEST(XtTablesKernel, RandomCorruptionsMatchTheKernel) {
  expect_same_as_kernel(testing::scenario_random_corruptions);
}

TEST(XtTables, RandomCorruptionsAreRefusedOrAcceptedWhole) {
  StoreBackend b;
  Trace t;
  testing::scenario_random_corruptions(b, t);
  int refused = 0, accepted = 0;
  for (const Observation& o : t) {
    if (o.what.find("SET_REPLACE random") == std::string::npos) continue;
    (o.ret == 0 ? accepted : refused) += 1;
  }
  EXPECT_EQ(refused + accepted, 2000);
  EXPECT_GT(refused, 1000);  // most random damage is caught
  RecordProperty("refused", refused);
  RecordProperty("accepted", accepted);
}

}  // namespace
}  // namespace nfbpf::nfnl::sockopt
