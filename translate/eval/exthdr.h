#pragma once
// nft's exthdr loads (net/netfilter/nft_exthdr.c) for the reference evaluator: the walk that finds
// an IPv6 extension header (ipv6_find_hdr with a target), a TCP option or an SCTP chunk, then the
// bytes at an offset in it, or only whether it is there (NFT_EXTHDR_F_PRESENT).

#include <cstdint>
#include <optional>
#include <string>

#include "translate/eval/load.h"

namespace nfbpf::eval {

// load_field for Base::kExtHdr: same contract (out zeroed to a 4-byte multiple by the caller).
bool load_exthdr(const Env& env, const ir::Field& f, uint8_t* out, std::string& why, bool& unsupported);

// ipv6_find_hdr(skb, &offset, target, NULL, NULL) for target >= 0: the protocol number (== target)
// and `offset` (relative to skb->data) of the first header of that type, or a negative errno.
int ipv6_find_target(const Skb& skb, uint8_t target, uint32_t& offset);

// The offset (relative to skb->data) of the first TCP option of `kind` and its length as the
// kernel's walk computes it; nullopt when the walk does not find one (or the header is bad).
struct TcpOption {
  uint32_t offset = 0;  // of the option's kind byte
  uint32_t len = 0;     // optlen(): 1 for EOL/NOP or a zero length byte
};
std::optional<TcpOption> find_tcp_option(const Env& env, uint8_t kind, uint32_t& header_len);

}  // namespace nfbpf::eval
