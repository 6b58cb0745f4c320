#pragma once
// Test support: real iptables-legacy tables, as the kernel keeps them. In a forked child inside a
// fresh network namespace (unshare(CLONE_NEWNET)), runs iptables-legacy / ip6tables-legacy
// commands against the kernel's x_tables, optionally sends Ethernet frames from veth v0 to its peer
// v1 (so they cross v1's prerouting/input hooks), then reads the table back with GET_INFO and
// GET_ENTRIES: the entries carry the kernel's per-entry counters and comefrom hook masks.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "translate/ipt/lower.h"

namespace nfbpf::translate::ipt::testing {

struct KernelTable {
  int family = 0;
  std::string table;
  uint32_t valid_hooks = 0;
  std::array<uint32_t, 5> hook_entry{}, underflow{};
  std::vector<uint8_t> entries;

  IptTableBlob blob() const {
    return IptTableBlob{.family = family, .table = table, .valid_hooks = valid_hooks, .hook_entry = hook_entry,
                        .underflow = underflow, .entries = entries};
  }
  // Counters of entry i (in blob order), read from the entries.
  std::vector<std::pair<uint64_t, uint64_t>> counters() const;
};

struct CaptureRequest {
  int family = 0;                        // AF_INET / AF_INET6
  std::string table = "filter";
  std::vector<std::string> commands;     // shell commands, run in order inside the namespace
  std::vector<std::vector<uint8_t>> frames;  // Ethernet frames sent out of v0 (after the commands)
};

Result<KernelTable> capture(const CaptureRequest& req);

}  // namespace nfbpf::translate::ipt::testing
