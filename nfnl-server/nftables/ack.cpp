#include "nfnl-server/nftables/ack.h"

#include <linux/netlink.h>

#include <cstring>

#include "nfnl-server/nftables/msg_writer.h"

namespace nfbpf::nftables {

nfnl::Message make_ack(const nfnl::Peer& peer, std::span<const uint8_t> req, int err,
                       const Error* extack) {
  nlmsghdr in{};
  std::memcpy(&in, req.data(), std::min(req.size(), sizeof(in)));
  uint16_t flags = 0;
  const bool full = err && !peer.cap_ack;
  if (!full) flags |= NLM_F_CAPPED;
  const bool tlv_msg = peer.ext_ack && extack && !extack->msg.empty();
  const bool tlv_offs = peer.ext_ack && extack && err && extack->bad_attr;
  if (tlv_msg || tlv_offs) flags |= NLM_F_ACK_TLVS;

  MsgWriter w = MsgWriter::raw(NLMSG_ERROR, flags, in.nlmsg_seq, peer.portid);
  nlmsgerr e{};
  e.error = -err;
  e.msg = in;
  if (full) {
    // The header, then the original payload right after it (nlmsg_append).
    std::vector<uint8_t> body(sizeof(e) + (in.nlmsg_len - NLMSG_HDRLEN));
    std::memcpy(body.data(), &e, sizeof(e));
    std::memcpy(body.data() + sizeof(e), req.data() + NLMSG_HDRLEN, in.nlmsg_len - NLMSG_HDRLEN);
    w.append_raw(body);
  } else {
    w.append_raw({reinterpret_cast<const uint8_t*>(&e), sizeof(e)});
  }
  if (tlv_msg) w.put_str(NLMSGERR_ATTR_MSG, extack->msg);
  if (tlv_offs) {
    uint32_t off = *extack->bad_attr;
    w.put(NLMSGERR_ATTR_OFFS, {reinterpret_cast<const uint8_t*>(&off), 4});
  }
  return w.finish();
}

}  // namespace nfbpf::nftables
