#include "common/result.h"

#include <gtest/gtest.h>

#include "common/fd.h"

#include <fcntl.h>

namespace nfbpf {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return failf(ERANGE, "{} is not positive", v);
  return v;
}

Result<void> outer(int v) {
  auto r = parse_positive(v);
  if (!r) return std::unexpected(std::move(r).error().with_context("checking the input"));
  return {};
}

TEST(Result, CarriesErrnoMessageAndContext) {
  auto r = outer(-3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, ERANGE);
  EXPECT_EQ(r.error().msg, "-3 is not positive");
  EXPECT_EQ(r.error().describe(), "-3 is not positive (while checking the input) [ERANGE]");
  EXPECT_TRUE(outer(4).has_value());
}

TEST(Fd, ClosesOnDestructionAndMoves) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    Fd a(fds[0]);
    Fd b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), fds[0]);
  }
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);  // closed by b's destructor
  Fd w(fds[1]);
  int raw = w.release();
  EXPECT_FALSE(w.valid());
  close(raw);
}

}  // namespace
}  // namespace nfbpf
