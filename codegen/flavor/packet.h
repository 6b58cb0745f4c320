#pragma once
// Reading packet bytes, identically on every flavor: bpf_dynptr_slice over the dynptr the prologue
// built (FlavorOps::emit_packet_init). Offsets here are relative to the IP header; the flavor's
// l3_offset is added for you.
//
// After emit_slice(), r0 points at `len` readable bytes (read-only; the verifier knows the size,
// so loads at r0 + [0, len) need no further bounds checks). The pointer is valid until the next
// call. Keep it in r7 (kPkt) or a scratch register if you make calls in between.

#include <cstdint>

#include "codegen/emit/program.h"
#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {

// r0 = pointer to bytes [l3_off, l3_off + len) of the packet from the IP header; jumps to `short_pkt`
// if the packet is shorter. len is 1..emit::kSliceBufSize. Clobbers r0-r5.
void emit_slice(emit::Program& p, const FlavorOps& f, uint32_t l3_off, uint32_t len,
                emit::Label& short_pkt);

// Same with a variable offset: l3_off = off_reg + add (e.g. the L4 header at ihl * 4). off_reg
// may be any register but r0 and r10; it is read before r1-r5 are written. Clobbers r0-r5.
void emit_slice_at(emit::Program& p, const FlavorOps& f, emit::Reg off_reg, int32_t add,
                   uint32_t len, emit::Label& short_pkt);

}  // namespace nfbpf::codegen::flavor
