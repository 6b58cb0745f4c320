#pragma once
// One lowering function per x_tables match (match/<name>.cpp) and target (target/<name>.cpp),
// found by name (registry.cpp). An extension BPF cannot run has a refusal reason instead.

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::translate::ipt {

// Where an entry sits, and what of its ipt_ip part extensions depend on.
struct EntryContext {
  ir::Family family = ir::Family::kIp;
  std::string_view table;
  std::string chain;
  uint32_t entry_index = 0;
  uint32_t rule_in_chain = 0;
  uint32_t hooks = 0;        // comefrom: the hooks this entry is reachable from
  uint16_t l4proto = 0;      // -p (0: any)
  // ip6_tables' own transport walk (legacy ip6 tables: through AH, ir::Base::kXtTransport,
  // MetaKey::kXtL4Proto) instead of nft's pktinfo, which iptables-nft's xt matches get
  // (nft_compat hands them nft_thoff()).
  bool xt6_walk = false;
  ir::Proto proto() const;   // the Proto tag for transport fields

  // "entry 5, rule 2 of chain INPUT in ip filter": appended to every refusal.
  std::string where() const;
};

// What lowering an entry produces.
struct EntryOut {
  std::vector<ir::Step>& steps;
  std::vector<ir::Set>& table_sets;  // sets a match needs (multiport), named uniquely per table
  std::string& comment;
  ir::Verdict verdict;               // targets: kContinue for XT_CONTINUE
};

struct ExtensionData {
  std::string_view name;
  uint8_t revision = 0;
  std::span<const uint8_t> data;  // the extension's data, XT_ALIGN'd size
};

using LowerFn = Result<void> (*)(const ExtensionData&, EntryOut&, const EntryContext&);

struct Extension {
  std::string_view name;
  LowerFn lower;              // nullptr: refused
  std::string_view refusal;   // why (when lower is nullptr)
};

const Extension* find_match(std::string_view name);
const Extension* find_target(std::string_view name);

// The extension's data as its uapi struct; EINVAL if it is too short.
template <typename T>
Result<T> data_as(const ExtensionData& x, const EntryContext& ctx) {
  if (x.data.size() < sizeof(T))
    return failf(EINVAL, "{}: data is {} bytes, expected {} ({})", x.name, x.data.size(), sizeof(T), ctx.where());
  T v;
  std::memcpy(&v, x.data.data(), sizeof(T));
  return v;
}

// Helpers shared by the matches.
namespace util {
// Holds iff the first `header_len` bytes of the transport header are in the packet and the packet
// is not a non-first fragment: x_tables' L4 matches return false on `fragoff != 0` and on a short
// skb_header_pointer(). A 3-byte load (never nft's fast path, which ignores the fragment offset)
// ending at the header's last byte, masked to nothing.
ir::Match l4_header_present(uint32_t header_len, ir::Proto proto, const EntryContext& ctx);
// port_match(): lo <= port <= hi, xor invert. Nothing when it always holds.
std::optional<ir::Match> port_range(ir::Field f, uint16_t lo, uint16_t hi, bool invert);
// Base::kXtTransport when ctx.xt6_walk, else kTransport.
ir::Field transport_field(uint32_t offset, uint32_t len, ir::Proto proto, const EntryContext& ctx);
}  // namespace util

// Matches.
Result<void> lower_tcp(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_udp(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_icmp(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_icmp6(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_multiport(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_iprange(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_comment(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_mark(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_state(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_conntrack(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_length(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_ttl(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_hl(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_dscp(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_pkttype(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_limit(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_mac(const ExtensionData&, EntryOut&, const EntryContext&);
// Targets (the standard and ERROR targets are part of the walk, lower_table.cpp).
Result<void> lower_mark_target(const ExtensionData&, EntryOut&, const EntryContext&);
Result<void> lower_log_target(const ExtensionData&, EntryOut&, const EntryContext&);

}  // namespace nfbpf::translate::ipt

// `NFBPF_IPT_TRY(x, expr);` declares x = *expr or returns its error.
#define NFBPF_IPT_TRY(var, expr)                                        \
  auto var##_result_ = (expr);                                          \
  if (!var##_result_) return std::unexpected(std::move(var##_result_).error()); \
  auto& var = *var##_result_
