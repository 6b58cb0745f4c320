#pragma once
// The evaluator's model of an sk_buff at an nf_tables hook and the kernel's pktinfo setup
// (include/net/netfilter/nf_tables_ipv4.h, nf_tables_ipv6.h, net/ipv6/exthdrs_core.c
// ipv6_find_hdr), kept to the letter because "does a transport read fail here" is exactly what
// matchers get wrong.

#include <cstdint>
#include <optional>
#include <span>

namespace nfbpf::eval {

// Offsets are into `buf` (the whole frame as the caller gave it). As in the kernel, nft offsets
// are relative to skb->data (`data`): the network header sits at `network - data` (0 at
// netfilter hooks and netdev ingress, the link header length at netdev egress).
struct Skb {
  std::span<const uint8_t> buf;
  uint32_t data = 0;                  // skb->data
  uint32_t network = 0;               // network header
  std::optional<uint32_t> mac;        // mac header, when set and non-empty

  uint32_t len() const { return static_cast<uint32_t>(buf.size()) - data; }  // skb->len
  int64_t network_offset() const { return static_cast<int64_t>(network) - data; }
  // skb_copy_bits(skb, offset, out, n) relative to skb->data; false when out of bounds.
  bool copy(int64_t offset, uint8_t* out, uint32_t n) const;
};

// struct nft_pktinfo's transport part.
struct PktInfo {
  bool l4 = false;        // NFT_PKTINFO_L4PROTO
  uint8_t tprot = 0;
  uint32_t thoff = 0;     // relative to skb->data
  uint16_t fragoff = 0;   // fragment offset in bytes (0 for first fragments and whole packets)
};

// nft_set_pktinfo_ipv4: trusts the header (the IP stack validated it before the hook).
PktInfo pktinfo_ipv4(const Skb& skb);
// __nft_set_pktinfo_ipv4_validate (netdev family, inet ingress): nullopt when invalid.
std::optional<PktInfo> pktinfo_ipv4_validate(const Skb& skb);
// nft_set_pktinfo_ipv6: ipv6_find_hdr(target -1, IP6_FH_F_AUTH); unspec on error.
PktInfo pktinfo_ipv6(const Skb& skb);
// __nft_set_pktinfo_ipv6_validate: version and payload-length checks, then as above.
std::optional<PktInfo> pktinfo_ipv6_validate(const Skb& skb);

// x_tables' IPv6 walk: ip6_packet_match's ipv6_find_hdr(skb, &protoff, -1, &fragoff, NULL),
// which walks through AH ((hdrlen + 2) * 4 bytes); like nft's, it does not check that a header's
// whole length is in the packet (6.18).
// ok = false when it fails (ip6_packet_match's hotdrop). The codegen twin: codegen/prologue/xt6_walk.h.
struct XtInfo {
  bool ok = false;
  uint8_t tprot = 0;
  uint32_t thoff = 0;    // relative to skb->data
  uint16_t fragoff = 0;  // bytes
};
XtInfo xt_walk_ipv6(const Skb& skb);

// ipv6_find_hdr(skb, &offset, -1, &fragoff, &flags) with flags = IP6_FH_F_AUTH.
// Returns the protocol (>= 0) or a negative errno; `offset` relative to skb->data (0 for a
// non-first fragment, which the kernel leaves unset).
int ipv6_find_transport(const Skb& skb, uint32_t& offset, uint16_t& fragoff);

}  // namespace nfbpf::eval
