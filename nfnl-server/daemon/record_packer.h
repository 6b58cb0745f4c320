#pragma once
// Packs reply messages into seqpacket records the way the kernel fills netlink skbs: messages are
// concatenated up to kMaxRecordBytes (libmnl users read with 8 KB buffers; the kernel's dump skbs
// stay near one page), while NLMSG_DONE and every NLMSG_ERROR (ack or error) travel in a record of
// their own, as netlink_ack() and netlink_dump_done() allocate a fresh skb for them.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::nfnl::daemon {

inline constexpr size_t kMaxRecordBytes = 3776;

using Record = std::vector<uint8_t>;

// A message larger than kMaxRecordBytes gets a record of its own, whatever its size.
std::vector<Record> pack_records(const std::vector<Message>& replies);

}  // namespace nfbpf::nfnl::daemon
