#pragma once
// Test sandbox: two fresh network namespaces joined by a veth pair, never touching the caller's.
//
//   sender ns:   va  10.99.0.1/24  (MAC 02:00:00:00:00:01)
//   receiver ns: vb  10.99.0.2/24  (MAC 02:00:00:00:00:02)
//
// Static neighbour entries on both sides so no packet waits for ARP. The namespaces are anonymous
// (unshare), so they vanish with the last fd/socket/link: nothing to clean up after a crash.
// The calling thread returns to its original namespace after every operation; use in_sender() /
// in_receiver() to create sockets, attach netfilter links or run `ip` inside one.

#include <functional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace nfbpf::codegen::testing {

class NetnsPair {
 public:
  static constexpr const char* kSenderAddr = "10.99.0.1";
  static constexpr const char* kReceiverAddr = "10.99.0.2";

  static Result<NetnsPair> create();
  NetnsPair(NetnsPair&&) = default;
  NetnsPair& operator=(NetnsPair&&) = default;

  // Runs f with the calling thread inside the namespace, then switches back.
  Result<void> in_sender(const std::function<void()>& f) const { return in(sender_, f); }
  Result<void> in_receiver(const std::function<void()>& f) const { return in(receiver_, f); }

  int sender_ifindex() const { return sender_ifindex_; }      // va, in the sender ns
  int receiver_ifindex() const { return receiver_ifindex_; }  // vb, in the receiver ns

  // Runs a command (argv[0] searched in PATH) in a namespace; fails unless it exits 0.
  Result<void> run_in_sender(const std::vector<std::string>& argv) const { return run(sender_, argv); }
  Result<void> run_in_receiver(const std::vector<std::string>& argv) const { return run(receiver_, argv); }

 private:
  NetnsPair() = default;
  Result<void> in(const Fd& ns, const std::function<void()>& f) const;
  Result<void> run(const Fd& ns, const std::vector<std::string>& argv) const;
  Fd original_;
  Fd sender_;
  Fd receiver_;
  int sender_ifindex_ = 0;
  int receiver_ifindex_ = 0;
};

// A UDP socket bound in the namespace current at creation; helpers for bounded send/receive.
Result<Fd> udp_socket_bound(const char* addr, uint16_t port);
// Sends `count` datagrams of `payload_len` bytes to addr:port; returns how many the stack accepted.
Result<int> udp_send(const Fd& sock, const char* addr, uint16_t port, int count, size_t payload_len);
// Reads datagrams without blocking for longer than `idle_ms` between them; returns the count.
int udp_drain(const Fd& sock, int idle_ms);

}  // namespace nfbpf::codegen::testing
