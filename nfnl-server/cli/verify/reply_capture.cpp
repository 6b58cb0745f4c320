#include "nfnl-server/cli/verify/reply_capture.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace nfbpf::verify {

Result<ReplyCapture> ReplyCapture::open(ScratchNet& net) {
  ReplyCapture c;
  NFBPF_TRYV(net.in_ns(net.sender_ns(), [&]() -> Result<void> {
    for (size_t i = 0; i < 2; ++i) {
      Fd s(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL)));
      if (!s.valid()) return fail_errno("AF_PACKET capture socket");
      int buf = 4 << 20;  // a dump's probes can draw thousands of replies before the first read
      setsockopt(s.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = htons(ETH_P_ALL);
      sll.sll_ifindex = static_cast<int>(if_nametoindex(i == 0 ? "k0" : "n0"));
      if (sll.sll_ifindex == 0 || bind(s.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
        return fail_errno("bind the capture socket");
      c.sock_[i] = std::move(s);
    }
    return {};
  }));
  return c;
}

namespace {

// Every frame queued on `fd` that the side sent (the sender's own frames are PACKET_OUTGOING).
// false when `max` was reached.
bool read_queued(int fd, std::vector<std::vector<uint8_t>>* into, size_t max) {
  std::vector<uint8_t> buf(65536);
  for (;;) {
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return true;  // EAGAIN: nothing more queued
    if (from.sll_pkttype == PACKET_OUTGOING || !into) continue;
    if (into->size() >= max) return false;
    into->emplace_back(buf.begin(), buf.begin() + n);
  }
}

}  // namespace

void ReplyCapture::drain() {
  for (auto& s : sock_) read_queued(s.get(), nullptr, 0);
}

CapturedReplies ReplyCapture::collect(std::chrono::milliseconds quiet, std::chrono::milliseconds max_time,
                                      size_t max_frames) {
  CapturedReplies got;
  const auto deadline = std::chrono::steady_clock::now() + max_time;
  for (;;) {
    pollfd p[2] = {{sock_[0].get(), POLLIN, 0}, {sock_[1].get(), POLLIN, 0}};
    const int ready = poll(p, 2, static_cast<int>(quiet.count()));
    if (ready <= 0) return got;  // quiet (or interrupted): everything came
    if (!read_queued(sock_[0].get(), &got.kernel, max_frames) || !read_queued(sock_[1].get(), &got.nfbpf, max_frames) ||
        std::chrono::steady_clock::now() > deadline) {
      got.truncated = true;
      drain();
      return got;
    }
  }
}

}  // namespace nfbpf::verify
