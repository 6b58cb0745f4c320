#pragma once
// Builds netlink messages the way the kernel's nlmsg_put/nla_put do: zeroed padding, nests
// without NLA_F_NESTED (nla_nest_start_noflag), big-endian integers as nf_tables puts them.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "nfnl-server/netlink/endpoint.h"

namespace nfbpf::nftables {

class MsgWriter {
 public:
  // nlmsghdr + nfgenmsg (nfnl_msg_put): type is the full nlmsg_type.
  MsgWriter(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid, uint8_t family,
            uint16_t res_id_be);
  // A bare nlmsghdr followed by nothing (callers append raw payload).
  static MsgWriter raw(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid);

  void put(uint16_t type, std::span<const uint8_t> data);
  void put_str(uint16_t type, std::string_view s);  // with the trailing NUL (nla_put_string)
  void put_u8(uint16_t type, uint8_t v);
  void put_be16(uint16_t type, uint16_t v);
  void put_be32(uint16_t type, uint32_t v);
  void put_be64(uint16_t type, uint64_t v);
  void put_flag(uint16_t type) { put(type, {}); }
  size_t nest_start(uint16_t type);  // returns a token for nest_end
  void nest_end(size_t token);
  void append_raw(std::span<const uint8_t> data);  // appended and aligned, no attribute header

  size_t size() const { return buf_.size(); }
  nfnl::Message finish();

 private:
  MsgWriter() = default;
  std::vector<uint8_t> buf_;
};

}  // namespace nfbpf::nftables
