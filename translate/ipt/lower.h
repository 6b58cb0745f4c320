#pragma once
// iptables-legacy tables (x_tables entry blobs, as SET_REPLACE stores them and GET_ENTRIES shows
// them) → IR. The blob is walked the way ipt_do_table / ip6t_do_table run it:
// - each hook's entry point becomes a base chain (PREROUTING, INPUT, ...) at the priority the
//   kernel registers that table at (iptable_filter 0, mangle -150, raw -300, security 50, nat
//   -100 before / +100 after routing); its policy is the underflow entry's verdict;
// - an ERROR entry heads a user chain (named by it) and the last one ends the table;
// - every jump target starts a chain: a jump into the middle of a chain (legal for the kernel,
//   never made by libiptc) starts a chain named "<chain>@<entry index>", and the chain before it
//   ends with a goto to it, which is the kernel's fall-through;
// - each entry becomes one rule whose handle is the entry's index in the blob (so counters map
//   back to entries): the ipt_ip part, the matches, a Counter (ADD_COUNTER runs after the
//   matches, before the target), the target's statements, the verdict. Rules the walk adds
//   (fall-through gotos, falling into an ERROR entry) have handles kSyntheticHandle + n.
// What cannot run as BPF, or not with the kernel's meaning, is refused with EOPNOTSUPP naming
// the extension and the entry: "REJECT: sends ICMP errors or TCP resets ... (entry 3, rule 2 of
// chain INPUT in ip filter)".
//
// - a RETURN with an empty jump stack continues at the hook's underflow entry (counted, then the
//   policy): a hook chain whose rules can return that way (a RETURN at its top, or a goto to a
//   user chain) is lowered as "jump <HOOK>@body; <underflow rule>", with its rules in the body.
//
// - tcp_mt's "hotdrop" of an IPv4 TCP fragment at offset 8 is a rule before the entry's: the same
//   earlier tests, `ip frag-off & 1fff == 0001`, drop (no counter, as the kernel's).
//
// - the "hotdrop" of a truncated header (tcp 20 bytes, udp/icmp/icmp6 8, multiport 4, read by
//   skb_header_pointer for non-fragments): a rule before the entry's with the same earlier tests
//   (+ IPv4: not a fragment) jumps to a shared chain "truncated@<size>" that returns when
//   transport byte size-1 loads (IPv6: or when the packet has a fragment header) and drops
//   otherwise (no counter, as the kernel's).
//
// Known differences (documented, not refused): a jump to an ERROR entry drops without counting
// it; a truncated IPv6 FIRST fragment is not hotdropped; IPv6 packets with an AH header:
// ip6_packet_match finds the protocol past AH (ipv6_find_hdr without IP6_FH_F_AUTH) while the
// IR's transport header and `meta l4proto` follow nft (AH ends the walk), so -p/L4 matches miss
// them (found by the verdict differential, docs/iptables.md).

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::translate::ipt {

inline constexpr uint64_t kSyntheticHandle = 1ull << 32;
inline constexpr uint32_t kNoHook = 0xFFFFFFFFu;  // hook_entry/underflow of an unused hook

struct IptTableBlob {
  int family = 0;               // AF_INET or AF_INET6
  std::string_view table;       // "filter", "mangle", "raw", "security", "nat"
  uint32_t valid_hooks = 0;     // bit per NF_INET_* hook
  std::array<uint32_t, 5> hook_entry{};  // byte offsets into `entries`
  std::array<uint32_t, 5> underflow{};
  std::span<const uint8_t> entries;      // the ipt_entry / ip6t_entry blob, `comefrom` = hook mask
};

Result<ir::Table> lower_ipt_table(const IptTableBlob& blob);

}  // namespace nfbpf::translate::ipt
