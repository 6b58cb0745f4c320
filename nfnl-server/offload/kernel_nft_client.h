#pragma once
// nfbpfd's own NETLINK_NETFILTER socket to the kernel's nf_tables, in the daemon's network
// namespace (used by hybrid mode's kernel tables, kernel_tables.h).
//
// Messages are built by the caller with libnftnl (kernel_msg() gives a header); batch() wraps them
// in BATCH_BEGIN/END, sends them in one sendmsg (the kernel runs the batch as one transaction,
// synchronously, inside that call) and collects one ack per message. dump() runs a GET with
// NLM_F_DUMP through libmnl's callback loop.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <linux/netlink.h>

#include "common/result.h"

struct mnl_socket;

namespace nfbpf::offload {

// One request message: bytes (header + payload, nlmsg_len exact) and what it is for errors
// ("add rule ip t input").
struct KernelMsg {
  std::vector<uint8_t> bytes;
  std::string what;
};

// A message of `type` (NFT_MSG_*) for `family`, its payload written by `fill` (libnftnl's
// nftnl_*_nlmsg_build_payload). `room`: payload bytes to reserve (libnftnl writes unchecked).
KernelMsg kernel_msg(uint16_t type, uint8_t family, uint16_t flags, size_t room,
                     const std::function<void(nlmsghdr*)>& fill, std::string what);

class KernelNftClient {
 public:
  KernelNftClient();
  ~KernelNftClient();
  KernelNftClient(const KernelNftClient&) = delete;
  KernelNftClient& operator=(const KernelNftClient&) = delete;

  // One kernel transaction. Error: the kernel's errno, its extended-ack text if any, and what the
  // failing message was for. `echo` (optional) sees every message the kernel sends back that is
  // not an ack (NLM_F_ECHO notifications of a committed batch) with the index of the message it
  // answers (from its nlmsg_seq).
  Result<void> batch(std::span<const KernelMsg> msgs,
                     const std::function<void(size_t index, const nlmsghdr*)>& echo = {});
  // A GET dump; `each` sees every reply message (not NLMSG_DONE).
  Result<void> dump(const KernelMsg& request, const std::function<void(const nlmsghdr*)>& each);
  // A non-dump request (e.g. GETRULE_RESET of one rule), acked; replies are handed to `each`.
  Result<void> request(const KernelMsg& request, const std::function<void(const nlmsghdr*)>& each = {});

 private:
  Result<void> open();
  Result<void> wait_acks(size_t expected, std::span<const KernelMsg> msgs, uint32_t first_seq,
                         const std::function<void(size_t, const nlmsghdr*)>& echo);

  mnl_socket* nl_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
};

}  // namespace nfbpf::offload
