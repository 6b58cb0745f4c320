#pragma once
// What the sides send back to the sender: an AF_PACKET socket on the sender's end of each side's
// veth (k0, n0, in the sender namespace) takes every frame arriving from the side — a reject's
// ICMP error or TCP reset, a packet the side forwarded back (NAT applied), the stack's own
// answers. The sender's own transmissions are left out. Bounded in frames and time.

#include <chrono>
#include <cstdint>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "nfnl-server/cli/verify/scratch_net.h"

namespace nfbpf::verify {

struct CapturedReplies {
  std::vector<std::vector<uint8_t>> kernel, nfbpf;  // Ethernet frames in arrival order
  bool truncated = false;                           // max_frames or max_time reached
};

class ReplyCapture {
 public:
  static Result<ReplyCapture> open(ScratchNet& net);
  // Discards what is queued.
  void drain();
  // Frames since the last drain/collect: reads until neither side sent anything for `quiet`,
  // for at most `max_time`, keeping at most `max_frames` per side.
  CapturedReplies collect(std::chrono::milliseconds quiet, std::chrono::milliseconds max_time, size_t max_frames);

 private:
  Fd sock_[2];  // kernel, nfbpf
};

}  // namespace nfbpf::verify
