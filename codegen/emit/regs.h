#pragma once
// BPF registers and the register/stack roles every nfbpf emitter follows. This file is the single
// reference for them: a matcher documents which of these it clobbers, never redefines them.
//
//   r0       return value of calls and of the program; clobbered by every call.
//   r1..r5   call arguments; clobbered by every call (helper, kfunc or bpf-to-bpf).
//   r6       kCtx: the program's context pointer (saved from r1 by the prologue, never written again).
//   r7       kPkt: packet state owned by the prologue/matchers (e.g. pointer to the last slice);
//            preserved across calls.
//   r8, r9   kScratch8/kScratch9: callee-saved scratch; an emitter that uses them says so and must
//            not expect them to survive another emitter.
//   r10      kFrame: read-only frame pointer; the stack layout below is relative to it.
//
// Stack layout (offsets from r10, the stack grows down; 512 bytes in all):
//   [-16, 0)    kDynptrOff: the struct bpf_dynptr over the packet (16 bytes, 8-aligned).
//   [-24, -16)  kPktLenOff: u64 length of the packet from the L3 header on (for byte counters).
//   [-32, -24)  kKeyOff: 8 bytes for map keys (counter slot index, prog-array index...).
//   [-96, -32)  kSliceBufOff: 64-byte bounce buffer for bpf_dynptr_slice when data is not linear.
//   [-104, -96) kHeadLenOff: u64 bytes of linear data from the L3 header (netfilter), or
//               kDataEndOff: the packet end pointer (XDP, tc, cgroup: ctx->data_end).
//   [-112,-104) kDataOff: pointer to the packet (netfilter: skb->data at L3, untrusted memory;
//               others: ctx->data, a verifier-checked packet pointer).
//   [-120,-112) kPktSrcOff: what the slow path builds its dynptr from (netfilter: the sk_buff;
//               others: the ctx).
//   [-512,-120) free for matchers (allocate from kFreeStackTop downwards).
//
// Subprograms (Program::call_local) get a fresh frame, but the packet state (dynptr, L3 length,
// key slot, bounce buffer, head length, data, skb) stays in the main frame: pass
// r1 = r10 + kDynptrOff to the subprogram and use flavor::PacketRef::at(<callee-saved reg holding
// it>) there; the subprogram's own frame then needs no stack.

#include <cstdint>

namespace nfbpf::codegen::emit {

enum class Reg : uint8_t { R0 = 0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };
inline constexpr int kRegCount = 11;

inline constexpr uint8_t reg_num(Reg r) { return static_cast<uint8_t>(r); }

// Roles (see the table above).
inline constexpr Reg kRet = Reg::R0;
inline constexpr Reg kArg1 = Reg::R1;
inline constexpr Reg kArg2 = Reg::R2;
inline constexpr Reg kArg3 = Reg::R3;
inline constexpr Reg kArg4 = Reg::R4;
inline constexpr Reg kArg5 = Reg::R5;
inline constexpr Reg kCtx = Reg::R6;
inline constexpr Reg kPkt = Reg::R7;
inline constexpr Reg kScratch8 = Reg::R8;
inline constexpr Reg kScratch9 = Reg::R9;
inline constexpr Reg kFrame = Reg::R10;

// Stack layout (see the table above).
inline constexpr int16_t kDynptrOff = -16;
inline constexpr int16_t kPktLenOff = -24;
inline constexpr int16_t kKeyOff = -32;
inline constexpr int16_t kSliceBufOff = -96;
inline constexpr int16_t kSliceBufSize = 64;
inline constexpr int16_t kHeadLenOff = -104;
inline constexpr int16_t kDataOff = -112;
inline constexpr int16_t kDataEndOff = kHeadLenOff;  // the other packet modes' use of the slot
inline constexpr int16_t kPktSrcOff = -120;
inline constexpr int16_t kFreeStackTop = -120;
inline constexpr int kStackSize = 512;

static_assert(kDynptrOff % 8 == 0, "bpf_dynptr must be 8-byte aligned on the stack");
static_assert(kSliceBufOff + kSliceBufSize == kKeyOff);

}  // namespace nfbpf::codegen::emit
