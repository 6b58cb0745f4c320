#pragma once
// The parsed-packet state every generated chain program keeps, and where it lives. The prologue
// (prologue.h) fills it once per packet; matchers read it; nothing writes it afterwards.
//
// Registers (on top of emit/regs.h's roles), identical in the main program and in every chain
// subprogram, so a matcher emits the same code wherever it lands:
//   r6  kCtx    the program context (subprograms receive it as an argument)
//   r7  kPkt    &dynptr slot of the MAIN frame: flavor::PacketRef::at(r7) reaches the packet and
//               the state slots below from any frame
//   r8  kL3Ptr  pointer to the first `Layout::l3_fast` bytes of the network header, or 0 when the
//               packet is shorter (then every network read takes the per-field slow path)
//   r9  kL4Ptr  pointer to the first `Layout::l4_fast` bytes of the transport header, or 0 when
//               there is none, it is shorter, or the packet is a non-first fragment
// Matchers therefore have r0-r5 as scratch only; they never keep values across a call.
//
// State slots in the main frame, right below emit::kFreeStackTop (reached as r7 + rel(slot)):
//   kTprotSlot   s64  L4 protocol (nft's pkt->tprot), -1 when unknown (no NFT_PKTINFO_L4PROTO)
//   kThoffSlot   s64  transport header offset from the L3 header (nft's thoff) when the L4
//                     protocol is known, else -1. For a non-first IPv6 fragment it is 0, as in
//                     the kernel (ipv6_find_hdr leaves the offset alone)
//   kFragSlot    u64  fragment offset in bytes (nft's fragoff; 0: whole packet or first fragment)
//   kNfprotoSlot u64  nft_pf(pkt): NFPROTO_IPV4 2, NFPROTO_IPV6 10, NFPROTO_NETDEV 5
//   kProtoSlot   u64  skb->protocol as a host-order ethertype (0x0800, 0x86dd, ...)
// x_tables' IPv6 walk (xt6_walk.h), filled only when Layout::xt6 (a rule reads it):
//   kXtTprotSlot s64  protocol ipv6_find_hdr(..., NULL flags) finds (through AH), or
//                     ir::kXtWalkFailed (0x100) when it fails and for non-IPv6 packets
//   kXtThoffSlot s64  offset of that header from the L3 header, -1 when the walk failed
//   kXtFragSlot  u64  fragment offset in bytes that walk reports (0 when it failed)

#include <cstdint>

#include "codegen/emit/regs.h"
#include "codegen/flavor/packet.h"

namespace nfbpf::codegen::prologue {

inline constexpr emit::Reg kPkt = emit::Reg::R7;
inline constexpr emit::Reg kL3Ptr = emit::Reg::R8;
inline constexpr emit::Reg kL4Ptr = emit::Reg::R9;

inline constexpr int16_t kTprotSlot = emit::kFreeStackTop - 8;
inline constexpr int16_t kThoffSlot = emit::kFreeStackTop - 16;
inline constexpr int16_t kNfprotoSlot = emit::kFreeStackTop - 24;
inline constexpr int16_t kProtoSlot = emit::kFreeStackTop - 32;
inline constexpr int16_t kFragSlot = emit::kFreeStackTop - 40;
inline constexpr int16_t kXtTprotSlot = emit::kFreeStackTop - 48;
inline constexpr int16_t kXtThoffSlot = emit::kFreeStackTop - 56;
inline constexpr int16_t kXtFragSlot = emit::kFreeStackTop - 64;
inline constexpr uint16_t kStateBytes = 64;
// Main-frame stack below the state block: free for matchers of the main program.
inline constexpr int16_t kMainFreeTop = emit::kFreeStackTop - kStateBytes;

// Offset of a main-frame slot from r7 (which holds r10_main + kDynptrOff).
inline constexpr int16_t rel(int16_t frame_off) { return static_cast<int16_t>(frame_off - emit::kDynptrOff); }

inline flavor::PacketRef pkt_ref() { return flavor::PacketRef::at(kPkt); }

// What the prologue must prepare, computed from the chains that will run (needs.h).
struct Layout {
  uint32_t l3_fast = 0;  // bytes of network header behind r8 (0: r8 is always 0)
  uint32_t l4_fast = 0;  // bytes of transport header behind r9 (0: r9 is always 0)
  // IPv6 extension headers the prologue walks (unrolled); 0: prologue::kMaxIpv6ExtHeaders.
  int ipv6_ext_headers = 0;
  // Whether to run x_tables' IPv6 walk too (the kXt* slots): some rule reads Base::kXtTransport
  // or MetaKey::kXtL4Proto/kXtFragOff (ip6 legacy tables).
  bool xt6 = false;
};

}  // namespace nfbpf::codegen::prologue
