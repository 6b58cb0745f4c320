// libFuzzer target for the nf_tables protocol: the input is a sequence of datagrams (u16 length
// prefix each) fed to one protocol instance, so that state built by earlier datagrams (tables,
// chains, sets) is exercised by later ones, batches included. Any crash, sanitizer report or
// reply that is not a well-formed netlink message is a bug. A zero-length datagram closes the
// sending socket (NetlinkProtocol::released) and continues from a new port id.
#include <linux/netlink.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "nfnl-server/nftables/protocol.h"

namespace {
struct Sink : nfbpf::nfnl::Multicast {
  void publish(uint32_t, nfbpf::nfnl::Message m, uint32_t) override { check(m); }
  static void check(const nfbpf::nfnl::Message& m) {
    if (m.size() < NLMSG_HDRLEN) abort();
    uint32_t len;
    std::memcpy(&len, m.data(), 4);
    if (len != m.size()) abort();
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto proto = nfbpf::nftables::make_nftables_protocol();
  Sink sink;
  nfbpf::nfnl::Peer peer;
  peer.portid = 4242;
  peer.pid = 4242;
  peer.comm = "fuzz";
  peer.cap_net_admin = true;
  peer.ext_ack = true;
  size_t off = 0;
  while (off + 2 <= size) {
    uint16_t n;
    std::memcpy(&n, data + off, 2);
    off += 2;
    n = uint16_t(std::min<size_t>(n, size - off));
    if (n == 0) {
      // An empty datagram stands for "this socket closes, the next datagrams come from another
      // one": tables it owns (NFT_TABLE_F_OWNER) are released, and ownership checks (EPERM)
      // get a second port to refuse.
      proto->released(peer.portid);
      peer.portid++;
      continue;
    }
    for (const auto& m : proto->handle(peer, {data + off, n}, sink)) Sink::check(m);
    off += n;
  }
  return 0;
}
