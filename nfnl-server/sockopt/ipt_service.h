#pragma once
// nfbpfd's entry point for kIptSockopt control records (daemon/control_wire.h): one
// getsockopt/setsockopt of an x_tables option, or a read of /proc/net/ip{,6}_tables_names, as the
// shim forwards them. Permission (CAP_NET_ADMIN, else EPERM) is checked by the caller.
//
// Request: arg0 = family (AF_INET/AF_INET6), arg1 = optname (or kProcNames), arg2 = optlen,
// flag kIptSet for setsockopt; payload = the bytes of the caller's buffer that marshal::get_input
// / marshal::set_input select. Reply: status = the call's return value or -errno, arg2 = where
// the payload goes in the caller's buffer (getsockopt), payload = those bytes, or the old counters
// (SET_REPLACE), or the names (kProcNames).

#include <cstdint>
#include <span>

#include "nfnl-server/sockopt/sockopt_marshal.h"
#include "nfnl-server/sockopt/xt_tables.h"

namespace nfbpf::nfnl::sockopt {

using marshal::kProcNames;

struct IptRequest {
  int family = 0;
  int optname = 0;
  int optlen = 0;
  bool set = false;
  std::span<const uint8_t> payload;
};

SockoptAnswer serve(IptSockopts& tables, const IptRequest& req);

}  // namespace nfbpf::nfnl::sockopt
