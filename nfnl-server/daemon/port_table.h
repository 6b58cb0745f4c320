#pragma once
// Netlink port ids of the emulated NETLINK_NETFILTER sockets, allocated as the kernel's
// netlink_autobind() does: the caller's process id if free, otherwise a random start in
// [INT32_MIN, -4097] counting down (the kernel picks the random start afresh on each collision).

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <unordered_set>

#include "common/result.h"

namespace nfbpf::nfnl::daemon {

class PortTable {
 public:
  // `random` returns a uniformly random 32-bit value; tests inject a deterministic one.
  explicit PortTable(std::function<uint32_t()> random = {});

  // Autobind for a process whose pid (in its own pid namespace, as task_tgid_vnr) is `pid`.
  uint32_t autobind(pid_t pid);
  // Explicit bind to a port the client chose: EADDRINUSE if another socket holds it.
  Result<void> bind(uint32_t portid);
  void release(uint32_t portid);
  bool in_use(uint32_t portid) const { return used_.contains(portid); }
  size_t size() const { return used_.size(); }

 private:
  std::function<uint32_t()> random_;
  std::unordered_set<uint32_t> used_;
};

}  // namespace nfbpf::nfnl::daemon
