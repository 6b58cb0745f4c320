#include "nfnl-server/daemon/port_table.h"

#include <climits>
#include <random>

namespace nfbpf::nfnl::daemon {

namespace {
constexpr int64_t kRoverStart = -4096;
constexpr int64_t kRoverFirst = -4097;
}  // namespace

PortTable::PortTable(std::function<uint32_t()> random) : random_(std::move(random)) {
  if (!random_) {
    random_ = [rng = std::mt19937(std::random_device{}())]() mutable {
      return static_cast<uint32_t>(rng());
    };
  }
}

uint32_t PortTable::autobind(pid_t pid) {
  int64_t portid = pid;
  int64_t rover = kRoverStart;
  while (portid == 0 || used_.contains(static_cast<uint32_t>(portid))) {
    if (rover == kRoverStart) {
      // Like the kernel: a random start in [INT32_MIN, -4097].
      const uint64_t span = static_cast<uint64_t>(kRoverFirst - int64_t{INT32_MIN}) + 1;
      rover = int64_t{INT32_MIN} + static_cast<int64_t>(random_() % span);
    } else if (rover >= kRoverStart || rover < INT32_MIN) {
      rover = kRoverFirst;
    }
    portid = rover--;
  }
  used_.insert(static_cast<uint32_t>(portid));
  return static_cast<uint32_t>(portid);
}

Result<void> PortTable::bind(uint32_t portid) {
  if (!used_.insert(portid).second) return failf(EADDRINUSE, "netlink port {} is in use", portid);
  return {};
}

void PortTable::release(uint32_t portid) { used_.erase(portid); }

}  // namespace nfbpf::nfnl::daemon
