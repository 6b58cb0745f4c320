// Linked into nfbpfd only while no `nfbpf_protocol` library exists (see netlink/endpoint.h): the
// transport can then be run and tested on its own. Every message gets the answer a kernel
// without nf_tables would give a request for an unknown subsystem.

#include <linux/netlink.h>

#include <cerrno>
#include <cstring>

#include "nfnl-server/daemon/nfnetlink_gate.h"
#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::nfnl {

namespace {

class PlaceholderProtocol final : public NetlinkProtocol {
 public:
  std::vector<Message> handle(const Peer& peer, std::span<const uint8_t> datagram,
                              Multicast&) override {
    std::vector<Message> out;
    size_t off = 0;
    while (datagram.size() - off >= NLMSG_HDRLEN) {
      nlmsghdr h;
      std::memcpy(&h, datagram.data() + off, sizeof(h));
      if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > datagram.size() - off) break;
      out.push_back(daemon::build_plain_ack(peer, datagram.subspan(off, h.nlmsg_len), -EOPNOTSUPP));
      off += NLMSG_ALIGN(h.nlmsg_len);
      if (off > datagram.size()) break;
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<NetlinkProtocol> make_protocol() { return std::make_unique<PlaceholderProtocol>(); }

}  // namespace nfbpf::nfnl
