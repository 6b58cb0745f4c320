#pragma once
// x_tables' IPv6 transport walk, beside nft's: what ip6_packet_match() computes with
// ipv6_find_hdr(skb, &protoff, -1, &fragoff, NULL) and hands to every ip6tables match as
// par->thoff / par->fragoff. It differs from nft's pktinfo walk (prologue.cpp, IP6_FH_F_AUTH) in
// one way: it walks THROUGH an AH header ((hdrlen + 2) * 4 bytes) to the real upper-layer header,
// so `ip6tables -p tcp --dport 22` matches TCP behind AH where nft's `tcp dport 22` does not.
// Kernel semantics kept (net/ipv6/exthdrs_core.c, verified on 6.18 with ip6tables-legacy):
//   - hop-by-hop, routing, destination options ((hdrlen + 1) * 8 bytes), fragment (8) and AH are
//     walked; NONE (59), ESP (50) and every other type end the walk as "the protocol";
//   - a header whose first bytes are not in the packet (2; a fragment header's 4) fails the walk
//     (-EBADMSG). 6.18 does NOT check that a header's whole length fits (verified: a destination
//     options header claiming 2048 bytes in a short packet still yields its next header, and a
//     tcp match then finds no TCP header: tcp_mt's own hotdrop);
//   - a non-first fragment whose next header is not an extension header (NONE counts as not one)
//     reports that protocol with the fragment offset; otherwise it fails (-ENOENT);
//   - failure: slot protocol ir::kXtWalkFailed (ip6_packet_match drops the packet then: the
//     translator emits that drop as a rule, translate/ipt).
// Bound: the kernel walks any number of headers (200 verified); this walk is unrolled `steps`
// times (the prologue's kMaxIpv6ExtHeaders, 16). A packet with more extension headers than that
// fails the walk, i.e. is dropped by the first `-p` rule that reaches it, as kernels with
// IP6_MAX_EXT_HDRS_CNT (12, newer than 6.18) do; 6.18 itself would find the protocol. So does a
// header offset past 32 KiB (only reachable in the 16th header: 15 headers of at most 2 KiB end
// before it).
//
// Precondition: r1 = the IPv6 header's next-header byte, r7 the packet ref. Fills kXtTprotSlot,
// kXtThoffSlot, kXtFragSlot (state.h). Clobbers r0-r5 and r9.

#include "codegen/emit/program.h"
#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::prologue {

void emit_xt6_walk(emit::Program& p, const flavor::FlavorOps& f, int steps);

// The slots' values for packets the walk does not run on (IPv4, non-IP, an IPv6 header cut
// short): failed. Emit once, before the L3 dispatch.
void emit_xt6_failed(emit::Program& p);

// reg ^= x; reg ^= x with x unknown to the verifier (prologue.cpp): the same number at run time,
// an unknown scalar to the verifier, so paths that reach a point with different ranges merge.
// Clobbers r2, r3.
void forget_range(emit::Program& p, emit::Reg reg);

}  // namespace nfbpf::codegen::prologue
