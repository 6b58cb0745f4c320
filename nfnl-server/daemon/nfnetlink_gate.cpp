#include "nfnl-server/daemon/nfnetlink_gate.h"

#include <linux/netlink.h>

#include <cerrno>
#include <cstring>

namespace nfbpf::nfnl::daemon {

Message build_plain_ack(const Peer& peer, std::span<const uint8_t> request_msg, int err) {
  nlmsghdr req;
  std::memcpy(&req, request_msg.data(), sizeof(req));
  const bool capped = err == 0 || peer.cap_ack;
  const size_t echoed = capped ? 0 : req.nlmsg_len - NLMSG_HDRLEN;

  const size_t len = NLMSG_HDRLEN + sizeof(nlmsgerr) + echoed;
  Message out(NLMSG_ALIGN(len), 0);
  nlmsghdr rep{};
  rep.nlmsg_len = static_cast<uint32_t>(len);
  rep.nlmsg_type = NLMSG_ERROR;
  rep.nlmsg_flags = capped ? NLM_F_CAPPED : 0;
  rep.nlmsg_seq = req.nlmsg_seq;
  rep.nlmsg_pid = peer.portid;
  std::memcpy(out.data(), &rep, sizeof(rep));

  nlmsgerr body{};
  body.error = err;
  body.msg = req;
  std::memcpy(out.data() + NLMSG_HDRLEN, &body, sizeof(body));
  if (echoed) {
    std::memcpy(out.data() + NLMSG_HDRLEN + sizeof(nlmsgerr), request_msg.data() + NLMSG_HDRLEN,
                echoed);
  }
  return out;
}

std::optional<std::vector<Message>> nfnetlink_gate(const Peer& peer,
                                                   std::span<const uint8_t> datagram) {
  if (datagram.size() < NLMSG_HDRLEN) return std::vector<Message>{};
  nlmsghdr first;
  std::memcpy(&first, datagram.data(), sizeof(first));
  if (first.nlmsg_len < NLMSG_HDRLEN || datagram.size() < first.nlmsg_len) {
    return std::vector<Message>{};
  }
  if (!peer.cap_net_admin) {
    return std::vector<Message>{build_plain_ack(peer, datagram.first(first.nlmsg_len), -EPERM)};
  }
  return std::nullopt;
}

}  // namespace nfbpf::nfnl::daemon
