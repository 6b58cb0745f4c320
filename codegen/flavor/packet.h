#pragma once
// Reading packet bytes, identically on every flavor, after the prologue (FlavorOps::
// emit_packet_init): a direct read of linear data when the bytes are there, a bpf_dynptr_slice
// otherwise (see PacketMode). Offsets here are relative to the IP header; the flavor's l3_offset
// is added for you.
//
// After emit_slice(), r0 points at `len` readable bytes (read-only). Only loads at r0 + [0, len)
// are allowed: on the slow path and with PacketMode::kCtxDirect the verifier enforces it; with
// kSkbDirect (netfilter) r0 is untrusted memory whose loads are fault-safe but unchecked, so
// staying inside is the emitter's duty. The pointer is valid until the next call; keep it in r7 (kPkt) or a scratch
// register if you make calls in between. Either way a packet shorter than l3_off + len jumps to
// `short_pkt`.

#include <cstdint>

#include "codegen/emit/program.h"
#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {

// Where the packet dynptr lives. In the main program it is the frame slot r10 + kDynptrOff. A
// bpf-to-bpf subprogram has its own frame, so the caller passes the address of its slot
// (r1 = r10 + kDynptrOff before call_local) and the subprogram keeps it in a callee-saved
// register: PacketRef::at(Reg::R6). Every other packet slot travels with it (each sits at a fixed
// distance from the dynptr): the L3 length, head length/data pointers, the key slot the slow path
// parks its offset in, and the bounce buffer. So a slow-path slice made in a subprogram rebuilds
// the MAIN frame's dynptr and copies into the main frame's buffer, and subprogram frames need no
// stack of their own (BPF's 512 bytes are shared by all frames of a call chain).
struct PacketRef {
  emit::Reg base = emit::kFrame;
  int16_t off = emit::kDynptrOff;
  static PacketRef at(emit::Reg r) { return PacketRef{r, 0}; }  // r must be r6..r9
  // Offset from `base` of the main-frame slot at r10 + frame_off (emit/regs.h's layout).
  int16_t slot(int16_t frame_off) const { return static_cast<int16_t>(off + (frame_off - emit::kDynptrOff)); }
};

// r0 = pointer to bytes [l3_off, l3_off + len) of the packet from the IP header; jumps to `short_pkt`
// if the packet is shorter. len is 1..emit::kSliceBufSize. Clobbers r0-r5.
void emit_slice(emit::Program& p, const FlavorOps& f, uint32_t l3_off, uint32_t len,
                emit::Label& short_pkt, PacketRef where = {});

// Same with a variable offset: l3_off = off_reg + add (e.g. the L4 header at ihl * 4). off_reg
// may be any register but r0 and r10; it is read before r1-r5 are written. Clobbers r0-r5.
void emit_slice_at(emit::Program& p, const FlavorOps& f, emit::Reg off_reg, int32_t add,
                   uint32_t len, emit::Label& short_pkt, PacketRef where = {});

// dst = the packet length from the IP header on (stored by the prologue). Clobbers only dst.
void emit_load_l3_len(emit::Program& p, emit::Reg dst, PacketRef where = {});

}  // namespace nfbpf::codegen::flavor
