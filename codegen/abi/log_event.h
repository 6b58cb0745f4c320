#pragma once
// The record a `log` statement's BPF code writes into the log ring buffer (map "nfbpf_log",
// BPF_MAP_TYPE_RINGBUF, owned by chain::RuntimeTables) and nfbpfd reads back
// (nfnl-server/offload/log_events.h) to print the kernel's nf_log line. Everything the line needs
// is in the record (the rule's prefix, level and flags are immediates of the program), so the
// reader needs no table of rules. Reserved ring memory is not zeroed: only the bytes the length
// fields cover are meaningful.

#include <cstddef>
#include <cstdint>

namespace nfbpf::codegen::abi {

inline constexpr uint32_t kLogEventMagic = 0x6e666c31;  // "nfl1"
inline constexpr uint32_t kLogPrefixMax = 128;          // NF_LOG_PREFIXLEN, NUL included
inline constexpr uint32_t kLogMacMax = 32;
inline constexpr uint32_t kLogDataMax = 256;            // bytes from the network header
inline constexpr uint32_t kLogRingBytes = 1u << 20;     // 1 MiB: ~2 400 records in flight

// NFTA_LOG_FLAGS / NF_LOG_* bits.
inline constexpr uint16_t kLogTcpSeq = 0x01, kLogTcpOpt = 0x02, kLogIpOpt = 0x04, kLogUid = 0x08,
                          kLogMacDecode = 0x20;

struct LogEvent {
  uint32_t magic;
  uint8_t level;           // syslog level 0-7
  uint8_t pf;              // NFPROTO_IPV4 / NFPROTO_IPV6 (0: from the IP version nibble)
  uint16_t flags;          // kLog*
  uint32_t mark;           // skb->mark
  uint32_t skb_len;        // skb->len (INCOMPLETE [n bytes] lengths)
  uint32_t uid, gid;       // the owning socket's fsuid/fsgid when have_uid
  uint8_t have_uid;
  uint8_t have_in, have_out;
  uint8_t pad0;
  uint16_t in_type;        // skb->dev->type (MAC= / MACSRC= printing)
  uint16_t mac_len;        // bytes in mac[] (dev->hard_header_len, 0 when none)
  uint16_t data_len;       // bytes in data[] (linear bytes from the network header, capped)
  uint16_t prefix_len;     // bytes in prefix[] (no NUL)
  uint16_t mac_hdr_len;    // skb network_header - mac_header (0xffff: mac header not set)
  uint16_t pad1;
  char in_name[16], out_name[16];
  uint8_t mac[kLogMacMax];
  char prefix[kLogPrefixMax];
  uint8_t data[kLogDataMax];
};

namespace log_event_offsets {
inline constexpr int16_t kMagic = offsetof(LogEvent, magic), kLevel = offsetof(LogEvent, level),
                         kPf = offsetof(LogEvent, pf), kFlags = offsetof(LogEvent, flags),
                         kMark = offsetof(LogEvent, mark), kSkbLen = offsetof(LogEvent, skb_len),
                         kUid = offsetof(LogEvent, uid), kGid = offsetof(LogEvent, gid),
                         kHaveUid = offsetof(LogEvent, have_uid), kHaveIn = offsetof(LogEvent, have_in),
                         kHaveOut = offsetof(LogEvent, have_out), kInType = offsetof(LogEvent, in_type),
                         kMacLen = offsetof(LogEvent, mac_len), kDataLen = offsetof(LogEvent, data_len),
                         kPrefixLen = offsetof(LogEvent, prefix_len), kMacHdrLen = offsetof(LogEvent, mac_hdr_len),
                         kInName = offsetof(LogEvent, in_name),
                         kOutName = offsetof(LogEvent, out_name), kMac = offsetof(LogEvent, mac),
                         kPrefix = offsetof(LogEvent, prefix), kData = offsetof(LogEvent, data);
}  // namespace log_event_offsets

}  // namespace nfbpf::codegen::abi
