#pragma once
// Hook flavors: how a generated program plugs into each kind of kernel hook. One file per flavor
// (netfilter.cpp, xdp.cpp, tcx.cpp, cgroup_skb.cpp) fills a FlavorOps; flavor_ops() returns it.
//
// Every flavor reads the packet the same way: the prologue builds a struct bpf_dynptr over the
// packet at r10 + emit::kDynptrOff, and matchers read headers with bpf_dynptr_slice (packet.h).
// What differs is where the IP header starts in that dynptr (l3_offset), the return codes, the
// program/attach types and how the context yields the packet.

#include <linux/bpf.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "codegen/emit/program.h"

namespace nfbpf::codegen::flavor {

enum class Flavor : uint8_t {
  kNetfilter,         // BPF_PROG_TYPE_NETFILTER, any NF_INET hook, link per (pf, hook, priority)
  kXdp,               // XDP on an interface (L2, ingress only)
  kTcxIngress,        // SCHED_CLS via TCX on an interface (L2)
  kTcxEgress,
  kCgroupSkbIngress,  // CGROUP_SKB on a cgroup (L3)
  kCgroupSkbEgress,
  kCount,
};

// How emit_slice() reaches packet bytes (see packet.h).
// Each mode reads linear data directly and builds a dynptr (FlavorOps::dynptr_ctor) only on the
// slow path, for bytes outside the linear area: bpf_dynptr_from_* costs 30-45 ns per call on the
// development machine, a direct read next to nothing.
enum class PacketMode : uint8_t {
  kSkbDirect,  // netfilter: skb->data is untrusted read-only memory (fault-safe loads the
               // verifier does not bound); we check offsets against the linear head length.
  kCtxDirect,  // XDP, tc, cgroup_skb: ctx->data/data_end packet pointers, checked by the verifier.
  kCount,
};

struct FlavorOps {
  Flavor flavor;
  std::string_view name;
  bpf_prog_type prog_type;
  bpf_attach_type expected_attach_type;  // given at load time
  bpf_attach_type attach_type;           // given to bpf_link_create
  uint32_t l3_offset;                    // offset of the IP header in the packet dynptr
  int32_t accept;                        // return code that lets the packet through
  int32_t drop;                          // return code that drops it
  PacketMode packet_mode;
  emit::Kfunc dynptr_ctor;               // slow path: bpf_dynptr_from_skb / bpf_dynptr_from_xdp
  // Emits the packet set-up, entered with r1 = ctx: r6 = ctx; the L3 length at r10 + kPktLenOff;
  // the packet state of the mode (kPktSrcOff, kDataOff, kHeadLenOff/kDataEndOff). Jumps to
  // `fail` if the packet cannot be read or is shorter than
  // l3_offset (the netfilter prologue never does: emit the `fail` block only if
  // fail.referenced(), the verifier refuses unreachable code). Clobbers r0-r5.
  void (*emit_packet_init)(emit::Program& p, emit::Label& fail);
};

const FlavorOps& flavor_ops(Flavor f);
std::string_view flavor_name(Flavor f);

// The kCtxDirect prologue, shared by XDP, tc and cgroup_skb. `len_from_ctx`: the ctx has a
// `len` field at offset 0 (__sk_buff) giving the whole packet length; otherwise (XDP) the length
// is data_end - data (the linear part; multi-buffer frames' fragments are not counted).
void emit_ctx_direct_init(emit::Program& p, emit::Label& fail, uint32_t l3_offset,
                          int16_t data_off, int16_t data_end_off, bool len_from_ctx);

// The per-flavor tables (defined in their own files).
extern const FlavorOps kNetfilterOps;
extern const FlavorOps kXdpOps;
extern const FlavorOps kTcxIngressOps;
extern const FlavorOps kTcxEgressOps;
extern const FlavorOps kCgroupSkbIngressOps;
extern const FlavorOps kCgroupSkbEgressOps;

}  // namespace nfbpf::codegen::flavor
