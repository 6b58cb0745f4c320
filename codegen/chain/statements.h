#pragma once
// Stateful statements of a rule, emitted inline (all fall through when the statement holds and
// jump to `fail` when it ends the rule, like nft's NFT_BREAK). Clobber r0-r5.
//
//   counter packets and skb->len bytes (the L3 length; the whole frame at tc egress, as nft).
//   quota   u64 bytes consumed per slot in map "nfbpf_quota" (ARRAY): atomic fetch-and-add of
//           skb->len; breaks once consumed > quota (or until, with `over`), as nft_quota.
//   limit   u64 per slot in map "nfbpf_limit" (ARRAY): the theoretical arrival time (TAT) of a
//           GCRA. nft's bucket (tokens, last) is the same state seen differently:
//           tokens(now) = tokens_max - max(TAT - now, 0); a packet passes when
//           max(TAT - now, 0) + cost <= tokens_max and then TAT = max(TAT, now) + cost; a
//           refused packet changes nothing (nft's update on refusal only caps tokens, which the
//           max() already does). One word, so the update is one BPF_CMPXCHG: exact across CPUs
//           (no per-CPU approximation). After kLimitCasRetries lost races in a row the packet is
//           treated as over the rate (cannot happen with fewer than that many CPUs hammering one
//           bucket within a few nanoseconds). A fresh slot is 0: a full bucket, as nft starts.
//   mark    meta mark set: (mark & ~clear) ^ value into __sk_buff->mark (tc, cgroup_skb);
//           netfilter and XDP programs cannot write skb->mark: EOPNOTSUPP.
//   log     EOPNOTSUPP (no ring buffer to userspace yet).

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::chain {

inline constexpr int kLimitCasRetries = 4;

Result<void> emit_quota(matcher::EmitCtx& c, const ir::Quota& q, uint32_t slot, emit::Label& fail);
Result<void> emit_limit(matcher::EmitCtx& c, const ir::Limit& l, uint32_t slot, emit::Label& fail);
Result<void> emit_set_mark(matcher::EmitCtx& c, const ir::SetMark& m);
// counter[slot] += {1, skb->len} (runtime::emit_count, with the frame length at tc egress).
void emit_counter(matcher::EmitCtx& c, uint32_t slot);
// The same with the slot taken from the 4-byte stack temporary at matcher::at(slot_temp) (a rule
// merged from a counting run: the slot of the rule whose key matched, translate/passes/merge_runs.h).
void emit_counter_from(matcher::EmitCtx& c, int16_t slot_temp);

}  // namespace nfbpf::codegen::chain
