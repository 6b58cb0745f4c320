#include "nfnl-server/daemon/record_packer.h"

#include <linux/netlink.h>

#include <cstring>

namespace nfbpf::nfnl::daemon {

namespace {

bool needs_own_record(const Message& m) {
  if (m.size() < sizeof(nlmsghdr)) return false;
  nlmsghdr h;
  std::memcpy(&h, m.data(), sizeof(h));
  return h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR;
}

}  // namespace

std::vector<Record> pack_records(const std::vector<Message>& replies) {
  std::vector<Record> records;
  Record current;
  auto flush = [&] {
    if (!current.empty()) records.push_back(std::move(current));
    current = Record{};
  };
  for (const Message& m : replies) {
    if (m.empty()) continue;
    if (needs_own_record(m)) {
      flush();
      records.emplace_back(m.begin(), m.end());
      continue;
    }
    if (!current.empty() && current.size() + m.size() > kMaxRecordBytes) flush();
    current.insert(current.end(), m.begin(), m.end());
  }
  flush();
  return records;
}

}  // namespace nfbpf::nfnl::daemon
