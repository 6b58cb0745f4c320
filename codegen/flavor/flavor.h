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
enum class PacketMode : uint8_t {
  kDynptr,     // bpf_dynptr_slice on a dynptr built by the prologue (every read is a kfunc call)
  kSkbDirect,  // loads from skb->data after our own check against the linear head length; the
               // dynptr is built only on the slow path (non-linear data). Netfilter: ~40 ns less
               // per packet than kDynptr.
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
  // Emits the packet set-up, entered with r1 = ctx: r6 = ctx; the L3 length at r10 + kPktLenOff;
  // kDynptr: the dynptr at r10 + kDynptrOff; kSkbDirect: skb, data and head length at kSkbOff,
  // kDataOff, kHeadLenOff. Jumps to `fail` if the packet cannot be read or is shorter than
  // l3_offset (the netfilter prologue never does: emit the `fail` block only if
  // fail.referenced(), the verifier refuses unreachable code). Clobbers r0-r5.
  void (*emit_packet_init)(emit::Program& p, emit::Label& fail);
};

const FlavorOps& flavor_ops(Flavor f);
std::string_view flavor_name(Flavor f);

// Shared tail of emit_packet_init for all flavors: stores the L3 length (needs the dynptr built).
void emit_store_l3_len(emit::Program& p, uint32_t l3_offset, emit::Label& fail);

// The per-flavor tables (defined in their own files).
extern const FlavorOps kNetfilterOps;
extern const FlavorOps kXdpOps;
extern const FlavorOps kTcxIngressOps;
extern const FlavorOps kTcxEgressOps;
extern const FlavorOps kCgroupSkbIngressOps;
extern const FlavorOps kCgroupSkbEgressOps;

}  // namespace nfbpf::codegen::flavor
