#pragma once
// One nf_tables request message as handlers see it: header, family, parsed top-level attributes,
// and who sent it. Offsets in errors are relative to `msg`.

#include <linux/netlink.h>

#include <cstdint>
#include <span>

#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/nftables/nla.h"

namespace nfbpf::nftables {

struct Request {
  std::span<const uint8_t> msg;  // the whole netlink message
  nlmsghdr hdr{};
  uint16_t type = 0;  // NFT_MSG_*
  uint8_t family = 0;
  const AttrTable* nla = nullptr;
  const nfnl::Peer* peer = nullptr;

  const Attr* operator[](size_t t) const { return (*nla)[t]; }
  bool flag(uint16_t f) const { return hdr.nlmsg_flags & f; }
};

// An Error pointing at attribute `a` (NL_SET_BAD_ATTR), or with no attribute if a is null.
inline Error bad_attr(int err, const Attr* a) {
  Error e(err, "");
  if (a) e.bad_attr = a->offset;
  return e;
}
inline std::unexpected<Error> fail_at(int err, const Attr* a) {
  return std::unexpected(bad_attr(err, a));
}

}  // namespace nfbpf::nftables
