#include "nfnl-server/nftables/ack.h"

#include <linux/netlink.h>
#include <linux/genetlink.h>

#include <cstring>

#include "nfnl-server/nftables/msg_writer.h"

namespace nfbpf::nftables {

namespace {

// netlink_policy_dump_write_attr(): how the violated policy entry is described.
void put_policy(MsgWriter& w, const NlaPolicy& p) {
  size_t nest = w.nest_start(NLMSGERR_ATTR_POLICY | NLA_F_NESTED);  // nla_nest_start: flagged
  uint32_t type = NL_ATTR_TYPE_INVALID;
  auto put_u64 = [&](uint16_t t, uint64_t v) {
    w.put(t, {reinterpret_cast<const uint8_t*>(&v), 8});
  };
  auto put_u32 = [&](uint16_t t, uint32_t v) {
    w.put(t, {reinterpret_cast<const uint8_t*>(&v), 4});
  };
  switch (p.type) {
    case NlaType::kU8: type = NL_ATTR_TYPE_U8; break;
    case NlaType::kU16: type = NL_ATTR_TYPE_U16; break;
    case NlaType::kU32: type = NL_ATTR_TYPE_U32; break;
    case NlaType::kU64: type = NL_ATTR_TYPE_U64; break;
    case NlaType::kString: type = NL_ATTR_TYPE_STRING; break;
    case NlaType::kNulString: type = NL_ATTR_TYPE_NUL_STRING; break;
    case NlaType::kBinary: type = NL_ATTR_TYPE_BINARY; break;
    case NlaType::kNested: type = NL_ATTR_TYPE_NESTED; break;
    case NlaType::kNestedArray: type = NL_ATTR_TYPE_NESTED_ARRAY; break;
    case NlaType::kFlag: type = NL_ATTR_TYPE_FLAG; break;
    default: break;
  }
  switch (p.type) {
    case NlaType::kU8: case NlaType::kU16: case NlaType::kU32: case NlaType::kU64: {
      static constexpr uint64_t kMax[] = {0xff, 0xffff, 0xffffffff, ~0ull};
      size_t i = p.type == NlaType::kU8 ? 0 : p.type == NlaType::kU16 ? 1 : p.type == NlaType::kU32 ? 2 : 3;
      put_u64(NL_POLICY_TYPE_ATTR_MIN_VALUE_U, 0);
      put_u64(NL_POLICY_TYPE_ATTR_MAX_VALUE_U, kMax[i]);
      break;
    }
    case NlaType::kString: case NlaType::kNulString: case NlaType::kBinary:
      if (p.len) put_u32(NL_POLICY_TYPE_ATTR_MAX_LENGTH, p.len);
      break;
    default: break;
  }
  put_u32(NL_POLICY_TYPE_ATTR_TYPE, type);
  w.nest_end(nest);
}

}  // namespace

nfnl::Message make_ack(const nfnl::Peer& peer, std::span<const uint8_t> req, int err,
                       const Error* extack, const NlaPolicy* policy) {
  nlmsghdr in{};
  std::memcpy(&in, req.data(), std::min(req.size(), sizeof(in)));
  uint16_t flags = 0;
  const bool full = err && !peer.cap_ack;
  if (!full) flags |= NLM_F_CAPPED;
  const bool tlv_msg = peer.ext_ack && extack && !extack->msg.empty();
  const bool tlv_offs = peer.ext_ack && extack && err && extack->bad_attr;
  const bool tlv_policy = peer.ext_ack && err && policy;
  if (tlv_msg || tlv_offs || tlv_policy) flags |= NLM_F_ACK_TLVS;

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
  if (tlv_policy) put_policy(w, *policy);
  return w.finish();
}

}  // namespace nfbpf::nftables
