#pragma once
// The kernel's nf_log text (net/netfilter/nf_log_syslog.c, nf_log_ip_packet / nf_log_ip6_packet)
// for one log record written by an offloaded `log` statement (codegen/abi/log_event.h):
//   <prefix>IN=<in> OUT=<out> MAC=<hh:..> SRC=... DST=... LEN=... TOS=... PREC=... TTL=... ID=...
//   [CE ][DF ][MF ][FRAG:n ][OPT (..) ]PROTO=TCP SPT=.. DPT=.. [SEQ=.. ACK=.. ]WINDOW=.. RES=0x..
//   <flags> URGP=.. [OPT (..) ][UID=.. GID=.. ][MARK=0x.. ]
// The same fields, order, spacing and number formats as the kernel (ICMP with its one level of
// embedded packet, AH/ESP SPIs, IPv6 extension headers). Not reproduced: VLAN tags (VPROTO= VID=),
// bridge PHYSIN=/PHYSOUT=, SIT tunnels; bytes beyond the record's capture (kLogDataMax) read as
// TRUNCATED / INCOMPLETE. Pure: no I/O.

#include <string>

#include "codegen/abi/log_event.h"

namespace nfbpf::offload {

// The line without the printk level (the caller knows it: event.level).
std::string format_nf_log(const codegen::abi::LogEvent& e);

}  // namespace nfbpf::offload
