#pragma once
// A stand-in NetlinkProtocol for transport tests: small, scriptable by message type, and it
// remembers who asked. Message types (all >= NLMSG_MIN_TYPE):
//   kEcho     : replies with a copy of the message (nlmsg_pid = the peer's port), plus a success
//               ack when NLM_F_ACK is set.
//   kDump     : payload {u32 count, u32 size}: `count` messages of `size` bytes, then NLMSG_DONE.
//   kPublish  : payload {u32 group}: publishes a copy of the message to that group.
//   kSlowEcho : kEcho after 50 ms, so a client that does not wait for its replies misses them.
//   kSlowSilent: takes 50 ms and answers nothing (a batch that succeeds without acks).
//   kMeasure  : replies with one message whose payload is the u64 size of the whole datagram
//               and a u64 sum of its bytes (proves chunked sends arrive intact).

#include <cstdint>
#include <mutex>
#include <vector>

#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::nfnl::testing {

inline constexpr uint16_t kEcho = 0x100;
inline constexpr uint16_t kDump = 0x101;
inline constexpr uint16_t kPublish = 0x102;
inline constexpr uint16_t kMeasure = 0x103;
inline constexpr uint16_t kSlowEcho = 0x104;
inline constexpr uint16_t kSlowSilent = 0x105;

class FakeProtocol final : public NetlinkProtocol {
 public:
  std::vector<Message> handle(const Peer& peer, std::span<const uint8_t> datagram,
                              Multicast& multicast) override;

  // What the transport told us about the most recent sender (read from the test thread).
  Peer last_peer() const;
  size_t calls() const;

 private:
  mutable std::mutex mu_;
  Peer last_peer_;
  size_t calls_ = 0;
};

// Builds one request message: header + payload, padded with zeros.
Message make_request(uint16_t type, uint16_t flags, uint32_t seq, std::span<const uint8_t> payload = {});
Message make_u32_request(uint16_t type, uint16_t flags, uint32_t seq, std::vector<uint32_t> words);

}  // namespace nfbpf::nfnl::testing
