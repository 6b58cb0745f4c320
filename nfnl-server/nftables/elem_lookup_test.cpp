// find_elem_for_get() per backend, on the shapes `nft get element` produced against this
// machine's kernel (testdata/get_element.cap has the byte-level replies): an rbtree set holding
// 10.0.0.0/8 as start 10.0.0.0 + end 11.0.0.0, a pipapo set holding 10.0.0.0/8 . 80-90.
#include "nfnl-server/nftables/elem_lookup.h"

#include <gtest/gtest.h>
#include <linux/netfilter/nf_tables.h>

namespace nfbpf::nftables {
namespace {

store::SetElem elem(std::vector<uint8_t> key, uint32_t flags = 0) {
  store::SetElem e;
  e.key = std::move(key);
  e.flags = flags;
  e.vis.cur = true;
  return e;
}

store::SetElem probe(std::vector<uint8_t> key, uint32_t flags = 0) { return elem(std::move(key), flags); }

TEST(ElemLookup, HashNeedsTheExactKey) {
  store::Set s;
  s.backend = store::SetBackend::kRhash;
  s.elems.push_back(elem({1, 1, 1, 1}));
  EXPECT_EQ(find_elem_for_get(s, probe({1, 1, 1, 1}), 0), &s.elems.front());
  EXPECT_EQ(find_elem_for_get(s, probe({1, 1, 1, 2}), 0), nullptr);
}

TEST(ElemLookup, RbtreeFindsTheIntervalAroundTheKey) {
  store::Set s;
  s.backend = store::SetBackend::kRbtree;
  s.flags = NFT_SET_INTERVAL;
  s.elems.push_back(elem({0, 0, 0, 0}, NFT_SET_ELEM_INTERVAL_END));
  s.elems.push_back(elem({10, 0, 0, 0}));
  s.elems.push_back(elem({11, 0, 0, 0}, NFT_SET_ELEM_INTERVAL_END));
  s.elems.push_back(elem({172, 16, 1, 1}));
  s.elems.push_back(elem({172, 16, 1, 2}, NFT_SET_ELEM_INTERVAL_END));
  const store::SetElem* start = &*std::next(s.elems.begin(), 1);
  const store::SetElem* end = &*std::next(s.elems.begin(), 2);
  EXPECT_EQ(find_elem_for_get(s, probe({10, 1, 2, 3}), 0), start);        // inside
  EXPECT_EQ(find_elem_for_get(s, probe({10, 0, 0, 0}), 0), start);        // on the start
  EXPECT_EQ(find_elem_for_get(s, probe({11, 0, 0, 0}), 0), nullptr);      // on the (exclusive) end
  EXPECT_EQ(find_elem_for_get(s, probe({12, 0, 0, 0}), 0), nullptr);      // after the end
  EXPECT_EQ(find_elem_for_get(s, probe({9, 0, 0, 0}), 0), nullptr);       // below the start
  EXPECT_EQ(find_elem_for_get(s, probe({11, 0, 0, 0}, NFT_SET_ELEM_INTERVAL_END), 0), end);
  EXPECT_EQ(find_elem_for_get(s, probe({10, 9, 9, 9}, NFT_SET_ELEM_INTERVAL_END), 0), end);
  EXPECT_EQ(find_elem_for_get(s, probe({172, 16, 1, 1}), 0), &*std::next(s.elems.begin(), 3));
}

TEST(ElemLookup, PipapoMatchesEveryFieldAgainstItsRange) {
  store::Set s;
  s.backend = store::SetBackend::kPipapoAvx2;
  s.flags = NFT_SET_INTERVAL | NFT_SET_CONCAT;
  s.field_len = {4, 2};
  store::SetElem range = elem({10, 0, 0, 0, 0, 80, 0, 0});
  range.key_end = std::vector<uint8_t>{10, 255, 255, 255, 0, 90, 0, 0};
  s.elems.push_back(range);
  s.elems.push_back(elem({1, 1, 1, 1, 0, 22, 0, 0}));
  EXPECT_EQ(find_elem_for_get(s, probe({10, 1, 1, 1, 0, 85, 0, 0}), 0), &s.elems.front());
  EXPECT_EQ(find_elem_for_get(s, probe({10, 1, 1, 1, 0, 91, 0, 0}), 0), nullptr);
  EXPECT_EQ(find_elem_for_get(s, probe({1, 1, 1, 1, 0, 22, 0, 0}), 0), &s.elems.back());
  EXPECT_EQ(find_elem_for_get(s, probe({1, 1, 1, 1, 0, 23, 0, 0}), 0), nullptr);
}

TEST(ElemLookup, ExpiredAndUncommittedElementsAreNotFound) {
  store::Set s;
  s.backend = store::SetBackend::kRhash;
  store::SetElem old = elem({1, 1, 1, 1});
  old.expires_at_ms = 100;
  s.elems.push_back(old);
  store::SetElem staged = elem({2, 2, 2, 2});
  staged.vis.cur = false;
  s.elems.push_back(staged);
  EXPECT_EQ(find_elem_for_get(s, probe({1, 1, 1, 1}), 99), &s.elems.front());
  EXPECT_EQ(find_elem_for_get(s, probe({1, 1, 1, 1}), 100), nullptr);
  EXPECT_EQ(find_elem_for_get(s, probe({2, 2, 2, 2}), 0), nullptr);
}

TEST(ElemLookup, CatchallRequestFindsTheCatchallElement) {
  store::Set s;
  s.backend = store::SetBackend::kRhash;
  s.elems.push_back(elem({1, 1, 1, 1}));
  s.elems.push_back(elem({}, NFT_SET_ELEM_CATCHALL));
  EXPECT_EQ(find_elem_for_get(s, probe({}, NFT_SET_ELEM_CATCHALL), 0), &s.elems.back());
}

}  // namespace
}  // namespace nfbpf::nftables
