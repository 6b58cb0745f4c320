#pragma once
// The packet prologue of a chain program: opens the packet (the flavor's init), finds the L3
// protocol, parses IPv4 / IPv6 (extension headers walked like the kernel's ipv6_find_hdr with
// IP6_FH_F_AUTH) as far as the transport header, and leaves the state of state.h: r6 ctx, r7
// packet ref, r8/r9 header pointers, tprot/thoff/nfproto/protocol slots. Runs once per packet;
// matchers never re-parse.
//
// How the L3 protocol is found:
//   netfilter   ip/ip6 tables: fixed by the hook's family; inet: ctx->state->pf
//   xdp / tcx   the Ethernet type at frame offset 12 (no VLAN tag is skipped: like nft at netdev
//               hooks, a tagged frame is not IP, skb->protocol being 0x8100)
//   cgroup_skb  __sk_buff->protocol
//
// Malformed or truncated headers (the verdict is nft's: the rules that need the missing part do
// not match, evaluation goes on to the next rule and finally the policy):
//   - IPv4 with IHL < 5, a non-first fragment (fragment offset != 0), an IPv6 walk that runs off
//     the packet, a non-first IPv6 fragment, more than kMaxIpv6ExtHeaders extension headers:
//     no transport header (transport reads and `meta l4proto`... see below) — `meta l4proto`
//     still reads the protocol of a non-first fragment, as in nft;
//   - netdev tables (xdp/tcx) also validate as __nft_set_pktinfo_ipv4/6_validate does (version,
//     total length vs. packet, header length vs. total length; IPv6 payload length);
//   - inet tables at xdp/tcx (nft's inet ingress): non-IP frames are accepted without running
//     the chain and invalid IP headers are dropped, as nft_do_chain_inet_ingress does;
//   - ip/ip6/inet tables at xdp/tcx/cgroup see only their family: other frames are accepted
//     untouched (the chain does not apply to them);
//   - a packet the flavor cannot open at all (an XDP frame shorter than an Ethernet header) is
//     accepted untouched.
// Network-header reads never depend on the parse: they read whatever bytes are there, as nft.
// At netfilter and cgroup hooks the IPv4 total length is not checked (the IP stack did it;
// nft_set_pktinfo_ipv4 trusts it too).

#include "codegen/emit/program.h"
#include "codegen/flavor/flavor.h"
#include "codegen/prologue/state.h"
#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::codegen::prologue {

// The walk is unrolled; each step ends by making the header offset's range the same on every
// path (forget_range in prologue.cpp), so the verifier's work grows linearly with the count
// (about 750 processed instructions per header) instead of with the mixes of header kinds. 16 is
// more than any packet that follows RFC 8200's header order carries (at most 6 of the walked
// kinds); measurements in docs/codegen.md.
inline constexpr int kMaxIpv6ExtHeaders = 16;

// Emits the prologue. Afterwards execution falls through to the rules. `not_applicable` is
// jumped to for packets the chain does not apply to (the flavor's accept), `drop` for packets
// nft's hook itself drops (inet ingress, invalid IP header); either may stay unreferenced.
// EOPNOTSUPP for a family the flavor cannot host (netdev/arp/bridge tables at netfilter hooks...).
Result<void> emit_prologue(emit::Program& p, const flavor::FlavorOps& f, ir::Family family,
                           const Layout& layout, emit::Label& not_applicable, emit::Label& drop);

// Whether `family` tables can run at flavor `f` (the check emit_prologue makes).
Result<void> family_supported(const flavor::FlavorOps& f, ir::Family family);

}  // namespace nfbpf::codegen::prologue
