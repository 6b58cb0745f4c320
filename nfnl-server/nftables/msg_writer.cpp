#include "nfnl-server/nftables/msg_writer.h"

#include <endian.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstring>

namespace nfbpf::nftables {

MsgWriter MsgWriter::raw(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid) {
  MsgWriter w;
  w.buf_.resize(NLMSG_HDRLEN);
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = portid;
  std::memcpy(w.buf_.data(), &h, sizeof(h));
  return w;
}

MsgWriter::MsgWriter(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid, uint8_t family,
                     uint16_t res_id_be) {
  *this = raw(type, flags, seq, portid);
  nfgenmsg g{};
  g.nfgen_family = family;
  g.version = NFNETLINK_V0;
  g.res_id = res_id_be;
  append_raw({reinterpret_cast<const uint8_t*>(&g), sizeof(g)});
}

void MsgWriter::append_raw(std::span<const uint8_t> data) {
  size_t at = buf_.size();
  buf_.resize(at + NLMSG_ALIGN(data.size()), 0);
  if (!data.empty()) std::memcpy(buf_.data() + at, data.data(), data.size());
}

void MsgWriter::put(uint16_t type, std::span<const uint8_t> data) {
  nlattr a{};
  a.nla_len = uint16_t(NLA_HDRLEN + data.size());
  a.nla_type = type;
  size_t at = buf_.size();
  buf_.resize(at + NLA_ALIGN(a.nla_len), 0);
  std::memcpy(buf_.data() + at, &a, sizeof(a));
  if (!data.empty()) std::memcpy(buf_.data() + at + NLA_HDRLEN, data.data(), data.size());
}

void MsgWriter::put_str(uint16_t type, std::string_view s) {
  std::vector<uint8_t> v(s.begin(), s.end());
  v.push_back(0);
  put(type, v);
}
void MsgWriter::put_u8(uint16_t type, uint8_t v) { put(type, {&v, 1}); }
void MsgWriter::put_be16(uint16_t type, uint16_t v) {
  v = htobe16(v);
  put(type, {reinterpret_cast<const uint8_t*>(&v), 2});
}
void MsgWriter::put_be32(uint16_t type, uint32_t v) {
  v = htobe32(v);
  put(type, {reinterpret_cast<const uint8_t*>(&v), 4});
}
void MsgWriter::put_be64(uint16_t type, uint64_t v) {
  v = htobe64(v);
  put(type, {reinterpret_cast<const uint8_t*>(&v), 8});
}

size_t MsgWriter::nest_start(uint16_t type) {
  size_t at = buf_.size();
  put(type, {});
  return at;
}

void MsgWriter::nest_end(size_t token) {
  uint16_t len = uint16_t(buf_.size() - token);
  std::memcpy(buf_.data() + token, &len, 2);
}

nfnl::Message MsgWriter::finish() {
  uint32_t len = uint32_t(buf_.size());
  std::memcpy(buf_.data(), &len, 4);
  return std::move(buf_);
}

}  // namespace nfbpf::nftables
