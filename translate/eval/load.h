#pragma once
// Field loads as nft's payload, meta and ct expressions perform them (nft_payload_eval,
// nft_meta_get_eval, nft_ct_get_eval): the bytes a register receives, or "break".

#include <cstdint>
#include <string>
#include <string_view>

#include "translate/eval/context.h"
#include "translate/eval/skb.h"
#include "translate/ir/ir.h"

namespace nfbpf::eval {

// Everything a load may read for one packet at one hook. `mark` and `priority` are the live
// values (a rule's "meta mark set" is seen by later rules).
struct Env {
  const PacketContext* ctx = nullptr;
  Skb skb;
  PktInfo pkt;
  XtInfo xt;               // x_tables' IPv6 walk (IPv6 packets at ip6 hooks; failed otherwise)
  uint8_t nfproto = 2;     // nft_pf(pkt): NFPROTO_IPV4 2, NFPROTO_IPV6 10, NFPROTO_NETDEV 5
  uint16_t protocol = 0;   // skb->protocol (ethertype, host value)
  uint32_t mark = 0;
  uint32_t priority = 0;
};

// Writes the loaded value into `out[0 .. round_up(f.len, 4))`: the value's `f.len` bytes, zero
// padding after it (nft zeroes the last partial register word before a payload copy; meta and ct
// store whole words). Returns false when nft would break the rule; `why` then says why.
// An error (as opposed to a break) is a field the evaluator does not model: it is reported
// through `unsupported` so the caller can refuse instead of guessing.
bool load_field(const Env& env, const ir::Field& f, uint8_t* out, std::string& why, bool& unsupported);

std::string_view to_string_base(ir::Base b);

}  // namespace nfbpf::eval
