#pragma once
// The scratch network namespaces of one `nfbpf verify` run, held only by file descriptors of
// this process (never named in /run/netns): they disappear when verify exits, however it exits.
//
//   sender S:  k0 ═ p1 in K (the kernel's netfilter runs the ruleset)
//              n0 ═ p1 in N (a private nfbpfd runs it as BPF)
//
// K and N are configured alike: p1 with the same index and MAC; frames arriving on p1 are routed
// to the local host whatever their destination (policy rule `iif p1` → a table with `local 0/0`),
// so each one traverses prerouting and input; replies the stack would send find no route and are
// never sent (they would otherwise come back through the hooks and blur the counters).
// Locally originated packets (send_local) leave by out_dev too: only sockets bound to it find that
// route (policy rule `oif fwd0`), so the stack's own replies still find none.
// In the forward path (set_path) a higher-priority policy rule routes them out of a veth (fwd0)
// instead: prerouting, forward and postrouting. In the prerouting-only path (compat-tests'
// experiments, which move every chain to prerouting) it routes them to a blackhole: dropped right
// after prerouting, so no conntrack entry is ever confirmed and every probe is a new flow.
// In the replies path (compat-tests' --replies) the sides answer like a host and router: p1 gets
// an address of its own (198.51.100.2, 2001:db8::2) and default routes back to the sender (via
// gateways with permanent neighbour entries), so packets for that address are delivered locally
// and answered (a reject's ICMP error or TCP reset, the stack's port unreachable) and all others are
// forwarded back out of p1 (NAT applied); ReplyCapture takes what arrives at the sender.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace nfbpf::verify {

enum class Side { kKernel, kNfbpf };

inline constexpr uint32_t kRecvIfindex = 7;
inline constexpr uint8_t kRecvMac[6] = {0x02, 0, 0, 0, 0, 0x02};
inline constexpr uint8_t kSenderMac[6] = {0x02, 0, 0, 0, 0, 0x01};

class ScratchNet {
 public:
  // in_dev: the name of the receiving device on both sides ("p1"; a ruleset's own interface name,
  // such as "eth0", makes its iifname rules match); out_dev: the forward path's way out ("fwd0").
  static Result<ScratchNet> create(const std::string& in_dev = "p1", const std::string& out_dev = "fwd0");
  const std::string& in_dev() const { return in_dev_; }

  int sender_ns() const { return s_.get(); }
  int ns(Side s) const { return s == Side::kKernel ? k_.get() : n_.get(); }
  // A fresh extra namespace (probe generation for iptables rulesets runs there).
  Result<Fd> extra_ns();
  // Runs `fn` with this thread in namespace `fd` (sockets it opens stay there), then returns home.
  Result<void> in_ns(int fd, const std::function<Result<void>()>& fn);

  enum class Path { kLocal, kForward, kPreroutingOnly, kReplies };
  // Where frames arriving on p1 go, on both sides (nothing to do when already there).
  Result<void> set_path(Path p);

  // Sends one Ethernet frame towards a side's p1 (AF_PACKET, qdisc bypassed).
  Result<void> send(Side s, const std::vector<uint8_t>& frame);
  // Sends the IP packet of an Ethernet frame from the side's own stack (a raw socket with the
  // header included, bound to the out device): it crosses output and postrouting, then leaves by
  // out_dev. false when the frame carries no IP packet a raw socket can send (the same on both sides).
  Result<bool> send_local(Side s, const std::vector<uint8_t>& frame);

 private:
  Fd home_, s_, k_, n_, tx_k_, tx_n_;
  Fd raw4_[2], raw6_[2];  // per side (kernel, nfbpf): send_local's sockets
  std::string in_dev_, out_dev_;
  Path path_ = Path::kLocal;
  Result<Fd> new_ns();
  Result<void> configure();
  Result<void> answer(bool on);  // the replies path's addresses, routes and sysctls
};

}  // namespace nfbpf::verify
