#include "nfnl-server/daemon/port_table.h"

#include <gtest/gtest.h>

#include <climits>

namespace nfbpf::nfnl::daemon {
namespace {

TEST(PortTable, FirstSocketOfAProcessGetsItsPid) {
  PortTable ports([] { return 0u; });
  EXPECT_EQ(ports.autobind(1234), 1234u);
  EXPECT_TRUE(ports.in_use(1234));
}

TEST(PortTable, CollisionsCountDownFromARandomNegativeStart) {
  // The random source picks offset 10 in [INT32_MIN, -4097]; later collisions count down.
  PortTable ports([] { return 10u; });
  ASSERT_EQ(ports.autobind(77), 77u);
  const int32_t second = static_cast<int32_t>(ports.autobind(77));
  EXPECT_EQ(second, INT32_MIN + 10);
  // A new collision draws a new random start (the kernel's rover is per call): same value, taken,
  // so it counts down from there.
  const int32_t third = static_cast<int32_t>(ports.autobind(77));
  EXPECT_EQ(third, INT32_MIN + 9);
}

TEST(PortTable, RandomPortsStayAtOrBelowMinus4097) {
  PortTable ports;
  ports.autobind(5);
  for (int i = 0; i < 1000; ++i) {
    const int32_t p = static_cast<int32_t>(ports.autobind(5));
    EXPECT_LE(p, -4097);
  }
  EXPECT_EQ(ports.size(), 1001u);
}

TEST(PortTable, ExplicitBindRefusesATakenPort) {
  PortTable ports;
  ASSERT_TRUE(ports.bind(42));
  auto again = ports.bind(42);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().err, EADDRINUSE);
  ports.release(42);
  EXPECT_TRUE(ports.bind(42));
}

TEST(PortTable, ReleasedPidIsReusable) {
  PortTable ports;
  ASSERT_EQ(ports.autobind(900), 900u);
  ports.release(900);
  EXPECT_EQ(ports.autobind(900), 900u);
}

}  // namespace
}  // namespace nfbpf::nfnl::daemon
