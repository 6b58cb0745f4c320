#pragma once
// The side channel between libnfbpf-shim (or any client library) and nfbpfd.
//
// Every emulated netlink socket is a unix SOCK_SEQPACKET socketpair: the application holds one end
// (so select/poll/epoll/fcntl work natively) and nfbpfd holds the other and writes netlink replies
// into it. Requests never travel on that pair: each process talks to nfbpfd over its own
// "control connection" (a connection to the listening socket), one record per request, and nfbpfd
// answers each request with a kReply record carrying the same token only AFTER every netlink reply
// for it sits in the application's receive queue. That is what makes nft's select() with a zero
// timeout right after sendmsg() see every reply.
//
// Record layout: Header, then payload_len bytes of payload. Ancillary data (SCM_RIGHTS) only on
// kCreate and kAttach. Integers are host order: both ends run on the same machine.

#include <cstddef>
#include <cstdint>

namespace nfbpf::nfnl::wire {

inline constexpr uint32_t kMagic = 0x6e666231;  // "nfb1"; bump on incompatible changes

// What a record asks for. The field is deliberately wide and explicit so that other socket kinds
// (iptables-legacy IPT_SO_* sockopts on raw sockets) can share the channel later.
enum class Kind : uint16_t {
  kCreate = 1,       // SCM_RIGHTS {daemon end, app end}; arg0 = caller's pid (its own pid ns)
  kAttach = 2,       // SCM_RIGHTS {app end}: this process now speaks for that socket (fork, exec)
  kBind = 3,         // payload sockaddr_nl; arg0 = caller pid (for autobind)
  kConnect = 4,      // payload sockaddr_nl; arg0 = caller pid
  kGetName = 5,      // reply payload: sockaddr_nl
  kSetOpt = 6,       // arg0 = level, arg1 = optname, payload = option value
  kGetOpt = 7,       // arg0 = level, arg1 = optname, arg2 = caller's optlen; reply payload = value
  kNetlinkSend = 8,  // payload = one datagram (or a chunk of it, flag kMore); arg0 = caller pid
  // iptables-legacy: one get/setsockopt of IPT_SO_*/IP6T_SO_* on a raw socket (flag kIptSet for
  // set), on a control connection that needs no netlink socket. arg0 = family, arg1 = optname,
  // arg2 = optlen; payload/reply as in sockopt/ipt_service.h; both may be chunked with kMore.
  kIptSockopt = 9,
  // For clients that cannot intercept the application's own sendmsg() on the fd (the libmnl
  // patch: nft sends batches with a raw sendmsg(mnl_socket_get_fd(nl))). Such datagrams reach
  // the daemon over the socket pair itself, without a token.
  kArm = 10,   // queue a sync marker on the socket now (before a raw send), then reply
  kSync = 11,  // process every datagram already written into the pair, queue the replies, reply
  // `nfbpf status`: on a control connection that needs no netlink socket; CAP_NET_ADMIN only.
  // Reply payload: the backend's status as JSON text (offload/status.h), chunked with kMore.
  kStatus = 12,
  kReply = 100,      // daemon -> client: status = 0 or -errno, payload depends on the request
};

enum Flag : uint16_t {
  kMore = 1,     // kNetlinkSend: more chunks of the same datagram follow
  kPartial = 2,  // kReply: the replies did not all fit in the socket buffer; the rest follow
                 // asynchronously (logged by the daemon; only without SO_SNDBUFFORCE)
  kIptSet = 4,   // kIptSockopt: setsockopt (else getsockopt)
};

struct Header {
  uint32_t magic = kMagic;
  uint16_t kind = 0;   // a Kind
  uint16_t flags = 0;  // Flag bits
  uint32_t token = 0;  // chosen by the client, echoed in the kReply
  int32_t status = 0;  // kReply only: 0 or -errno
  int32_t arg0 = 0;
  int32_t arg1 = 0;
  int32_t arg2 = 0;
  uint32_t payload_len = 0;
};
static_assert(sizeof(Header) == 32, "the wire header is part of the protocol");

// Large datagrams (10 000 rules are ~4.6 MB) are cut into chunks: one seqpacket record must fit
// the sender's socket buffer (unprivileged default ~208 KB) and records over ~4 MB fail outright.
inline constexpr size_t kMaxChunk = 60 * 1024;
inline constexpr size_t kMaxRecord = sizeof(Header) + kMaxChunk;

// Application ends are bound to an abstract unix name with this prefix, so that a process that
// inherits one through exec can recognise it (the shim scans its fds at load time).
inline constexpr char kAppEndNamePrefix[] = "nfbpf-nl.";

// The sync marker kArm queues: an NLMSG_NOOP (harmless to any netlink reader) whose payload is
// this magic. A reader that finds it sends kSync before reading on, so a select() right after a
// raw send sees the marker at once and the read that follows sees every reply.
inline constexpr char kSyncMarkerMagic[8] = {'N', 'F', 'B', 'P', 'F', 'S', 'Y', 'N'};
inline constexpr size_t kSyncMarkerSize = 16 + sizeof(kSyncMarkerMagic);

// The overrun marker: nfbpfd queues it (an NLMSG_NOOP with this magic) behind the records of a
// listener that lost notifications because its buffer was full, unless NETLINK_NO_ENOBUFS is set.
// The reader's recv() turns it into ENOBUFS, as the kernel reports a netlink overrun. The kernel
// reports it on the next recv() at once; the marker comes after what was already queued.
inline constexpr char kOverrunMarkerMagic[8] = {'N', 'F', 'B', 'P', 'F', 'N', 'O', 'B'};
inline constexpr size_t kOverrunMarkerSize = 16 + sizeof(kOverrunMarkerMagic);

inline constexpr const char* kDefaultSocketPath = "/run/nfbpf/nfbpf.sock";
inline constexpr const char* kSocketPathEnv = "NFBPF_SOCKET";

}  // namespace nfbpf::nfnl::wire
