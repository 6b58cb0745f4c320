#include "nfnl-server/daemon/record_packer.h"

#include <gtest/gtest.h>
#include <linux/netlink.h>

#include <cstring>

namespace nfbpf::nfnl::daemon {
namespace {

Message msg(uint16_t type, size_t len) {
  Message m(NLMSG_ALIGN(len), 0);
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(len);
  h.nlmsg_type = type;
  std::memcpy(m.data(), &h, sizeof(h));
  return m;
}

TEST(RecordPacker, FillsRecordsUpToTheLimit) {
  std::vector<Message> in(10, msg(0x0a00, 1000));  // 10 x 1000 bytes: 3 per record
  auto records = pack_records(in);
  ASSERT_EQ(records.size(), 4u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(records[i].size(), 3000u);
  EXPECT_EQ(records[3].size(), 1000u);
  for (auto& r : records) EXPECT_LE(r.size(), kMaxRecordBytes);
}

TEST(RecordPacker, DoneAndErrorsTravelAlone) {
  std::vector<Message> in = {msg(0x0a00, 100), msg(0x0a00, 100), msg(NLMSG_DONE, 20),
                             msg(NLMSG_ERROR, 36), msg(NLMSG_ERROR, 36), msg(0x0a00, 100)};
  auto records = pack_records(in);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[0].size(), 200u);
  EXPECT_EQ(records[1].size(), 20u);
  EXPECT_EQ(records[2].size(), 36u);
  EXPECT_EQ(records[3].size(), 36u);
  EXPECT_EQ(records[4].size(), 100u);
}

TEST(RecordPacker, OversizedMessageGetsItsOwnRecord) {
  std::vector<Message> in = {msg(0x0a00, 100), msg(0x0a00, 9000), msg(0x0a00, 100)};
  auto records = pack_records(in);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].size(), 9000u);
}

TEST(RecordPacker, NothingInNothingOut) { EXPECT_TRUE(pack_records({}).empty()); }

}  // namespace
}  // namespace nfbpf::nfnl::daemon
