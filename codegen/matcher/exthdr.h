#pragma once
// nft exthdr loads (ir::Base::kExtHdr): the kernel's walk (net/netfilter/nft_exthdr.c) as a
// bounded BPF loop (a backward jump, an exact iteration counter in a temporary), then one read at
// the offset found. Every flavor runs them (they need only the IP header and the prologue's
// transport state). Each iteration ends by forgetting the offset's range (as the prologue's IPv6
// walk does), so the verifier keeps about one state per iteration. See docs/codegen.md.
//
// - IPv6 (ipv6_find_hdr with a target): skb->protocol must be IPv6 (else the rule breaks, also
//   for "exists"); walks as many extension headers as the prologue (prologue::kMaxIpv6ExtHeaders
//   or Layout::ipv6_ext_headers): a header behind more of them is "absent" here, while the kernel
//   has no limit.
// - TCP options: TCP, not a non-first fragment, the whole header (20..60 bytes) in the packet;
//   39 iterations cover the 40-byte option space, so nothing is cut.
// - SCTP chunks: kMaxSctpChunks chunks; a chunk behind more of them is "absent" here, while the
//   kernel walks the whole packet. Non-first fragments are walked too (kernel 6.18 does).
// "Absent" jumps to `fail` (NFT_BREAK), or reads 0 for presence loads (ext_present), exactly
// where the kernel does so. Uses four 8-byte temporaries (TempStack). Clobbers r0-r5.

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

inline constexpr int kMaxSctpChunks = 16;

Result<void> exthdr_supported(const flavor::FlavorOps& f, const ir::Field& field);
Result<Loaded> load_exthdr(EmitCtx& c, const ir::Field& f, emit::Label& fail, bool want_mem);

}  // namespace nfbpf::codegen::matcher
