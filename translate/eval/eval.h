#pragma once
// Reference evaluator of the matcher IR: the verdict nf_tables would give a packet, computed in
// plain C++ from the kernel's semantics (net/netfilter/nf_tables_core.c nft_do_chain,
// nft_payload.c, nft_meta.c, nft_ct.c, nft_cmp.c, nft_range.c, nft_bitwise.c, nft_byteorder.c,
// nft_lookup.c, nft_limit.c, nft_quota.c, nf_tables_ipv4.h/ipv6.h). Codegen tests, compat
// verdict tests and `nfbpf verify` compare BPF programs and the kernel against it.
//
//   ir::Table t = ...;                       // e.g. from the translator
//   eval::PacketContext ctx{.family = ir::Family::kIp, .hook = ir::Hook::kInput,
//                           .in = eval::Device{.name = "eth0", .ifindex = 2}};
//   eval::EvalState state;                   // counters, quotas, token buckets across packets
//   auto r = eval::evaluate(t, ctx, packet::Packet::ipv4("10.0.0.1", "10.0.0.2").tcp(1, 22).bytes(), state);
//   // r->verdict == ir::VerdictKind::kDrop, r->decided_by == {"filter", "input", 5}
//
// Semantics, in the kernel's terms:
// - Base chains of the hook run in priority order; equal priorities run the later-declared chain
//   first (nft registers the newest hook first). accept moves on to the next base chain, drop
//   ends. A packet no base chain applies to is accepted.
// - Within a chain, rules run in order; a step that does not hold is NFT_BREAK (next rule); a
//   rule whose steps all hold applies its verdict (continue = next rule). jump pushes the next
//   rule (stack of 16; overflow drops, as nft_do_chain), goto does not; return/end of chain pops,
//   and an empty stack applies the base chain's policy.
// - Payload loads (nft_payload_eval / nft_payload_fast_eval): the network base is the L3 header;
//   the transport base needs an L4 protocol from pktinfo (ipv6_find_hdr for IPv6); a load past
//   the end breaks. Non-first fragments: aligned 1/2/4-byte loads (the kernel's fast path) still
//   read at thoff (0 for IPv6 non-first fragments, i.e. the IPv6 header), all others break —
//   checked against the kernel by kernel_diff_test.
// - A RegisterBlock leaving a verdict in register 0 decides the rule like a verdict: the
//   Immediate data for register 0 is a 4-byte host-order verdict code (NF_DROP 0, NF_ACCEPT 1,
//   NFT_CONTINUE -1, NFT_BREAK -2, NFT_JUMP -3, NFT_GOTO -4, NFT_RETURN -5), followed for jump
//   and goto by the target chain's name.
// - Counters count when reached (packets and skb->len bytes). Limits are nft token buckets on
//   the virtual clock `PacketContext::now_ns` (a bucket starts full at its first packet);
//   quotas add skb->len and fail once consumed > quota (or the reverse with `over`).
// - Statements the evaluator cannot model (named objects it was not told about, meta/ct keys it
//   does not know) are errors (EOPNOTSUPP/ENOENT), never silently "match".

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "translate/eval/context.h"
#include "translate/ir/ir.h"

namespace nfbpf::eval {

struct RuleRef {
  std::string table, chain;
  uint64_t handle = 0;
  friend auto operator<=>(const RuleRef&, const RuleRef&) = default;
};

struct StepRef {
  RuleRef rule;
  uint32_t step = 0;  // index in Rule::steps
  friend auto operator<=>(const StepRef&, const StepRef&) = default;
};

struct CounterValue {
  uint64_t packets = 0, bytes = 0;
  friend bool operator==(const CounterValue&, const CounterValue&) = default;
};

// State that outlives one packet.
class EvalState {
 public:
  // Named stateful objects (ObjectRef steps) are not part of ir::Table: declare them here.
  void define_quota(const std::string& table, const std::string& name, ir::Quota q) { quotas_[{table, name}] = q; }
  void define_limit(const std::string& table, const std::string& name, ir::Limit l) { limit_defs_[{table, name}] = l; }

  std::map<StepRef, CounterValue> counters;        // anonymous Counter steps
  std::map<std::pair<std::string, std::string>, CounterValue> named_counters;  // (table, name)
  std::map<RuleRef, CounterValue> rule_matches;    // rules whose steps all held

 private:
  friend class ChainRunner;
  struct Bucket {
    uint64_t tokens = 0, last = 0;
  };
  std::map<std::pair<std::string, std::string>, ir::Quota> quotas_;
  std::map<std::pair<std::string, std::string>, ir::Limit> limit_defs_;
  std::map<StepRef, uint64_t> quota_used_;              // anonymous quotas: bytes consumed
  std::map<std::pair<std::string, std::string>, uint64_t> named_quota_used_;
  std::map<StepRef, Bucket> buckets_;
  std::map<std::pair<std::string, std::string>, Bucket> named_buckets_;
};

struct TraceEvent {
  enum class Kind : uint8_t { kNoMatch, kMatch, kVerdict, kPolicy, kNote };
  Kind kind;
  std::string table, chain;
  std::optional<uint64_t> rule;
  std::string detail;  // why a rule broke ("tcp: non-first fragment", "step 2: != 0016"), the verdict, ...
};

struct EvalResult {
  ir::VerdictKind verdict = ir::VerdictKind::kAccept;  // kAccept or kDrop: the hook's outcome
  // What decided: the table and chain, and the rule handle (nullopt: that base chain's policy, or
  // no base chain at all when `chain` is empty). With several base chains that accept, the last.
  std::string table, chain;
  std::optional<uint64_t> rule;
  uint32_t mark = 0;      // skb->mark after the hook
  uint32_t priority = 0;  // skb->priority after the hook
  std::vector<TraceEvent> trace;

  std::string describe() const;  // "drop by ip/filter/input rule 5", "accept by ip/filter/input policy"
};

// All tables of `rs` whose base chains sit at ctx's hook; `frame` starts with ctx.l2_len bytes of
// link header (0: bare L3).
Result<EvalResult> evaluate(const ir::Ruleset& rs, const PacketContext& ctx, std::span<const uint8_t> frame,
                            EvalState& state);
Result<EvalResult> evaluate(const ir::Table& t, const PacketContext& ctx, std::span<const uint8_t> frame,
                            EvalState& state);
// One base chain only, whatever its hook (what one BPF program per chain is compared against).
Result<EvalResult> evaluate_chain(const ir::Table& t, const ir::Chain& base, const PacketContext& ctx,
                                  std::span<const uint8_t> frame, EvalState& state);

}  // namespace nfbpf::eval
