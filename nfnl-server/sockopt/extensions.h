#pragma once
// The x_tables matches and targets nfbpf understands, described the way the kernel registers
// them (struct xt_match / xt_target): name, revision, family, payload size, protocol, hooks,
// table, and the checkentry rules. A blob naming anything else is refused exactly as a kernel
// without that module refuses it (ENOENT for an unknown name, EPROTOTYPE for an unknown
// revision), and GET_REVISION_* answers as such a kernel would.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace nfbpf::nfnl::sockopt {

// What checkentry sees of the rule (the fields the kernel's checks look at).
struct CheckContext {
  uint16_t proto = 0;     // ip.proto / ipv6.proto
  bool inv_proto = false;  // IPT_INV_PROTO / IP6T_INV_PROTO
  bool ipv6_proto_set = false;  // IPv6: IP6T_F_PROTO (only meaningful for ip6 rules)
  uint32_t hook_mask = 0;       // par->hook_mask: the hooks the rule is reached from
  std::string_view table;       // par->table
  bool nft_compat = false;      // par->nft_compat: checked through nft_compat (iptables-nft)
  uint8_t family = 0;           // par->family (NFPROTO_IPV4/IPV6)
  bool has_syn_match = false;   // the entry has a tcp match requiring SYN (TCPMSS's find_syn_match)
};

struct Extension {
  std::string_view name;
  uint8_t revision = 0;
  uint8_t nfproto = 0;         // NFPROTO_UNSPEC (both), NFPROTO_IPV4 or NFPROTO_IPV6
  int size = 0;                // unaligned matchsize/targetsize, as registered
  uint16_t proto = 0;          // 0: any
  uint32_t hooks = 0;          // 0: any
  std::string_view table;      // empty: any
  // checkentry: 0 or -errno. `data` is the payload after the xt_entry_match/target header.
  int (*check)(std::span<const uint8_t> data, const CheckContext& ctx) = nullptr;
  // usersize: the bytes of `data` shown to userspace (xt_data_to_user / nft_compat's dump
  // clear the rest, which holds kernel pointers). 0: all of `size`.
  int usersize = 0;
};

enum class ExtKind { kMatch, kTarget };

// The extension with this name and revision for the family (nfproto IPV4/IPV6; UNSPEC
// extensions serve both), or -ENOENT (no such name) / -EPROTOTYPE (no such revision): what
// xt_find_match()/xt_find_target() return.
const Extension* find_extension(ExtKind kind, uint8_t nfproto, std::string_view name,
                                uint8_t revision, int* err);

// GET_REVISION_MATCH/TARGET (xt_find_revision): the best revision known for `name` if
// `revision` is known (>= 0), -EPROTONOSUPPORT if the name is known but not that revision,
// -ENOENT if the name is unknown.
int best_revision(ExtKind kind, uint8_t nfproto, std::string_view name, uint8_t revision);

}  // namespace nfbpf::nfnl::sockopt
