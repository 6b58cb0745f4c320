#pragma once
// Kernel structures a BPF_PROG_TYPE_NETFILTER program sees, mirrored by hand (kernel 6.4+ layout,
// checked against /sys/kernel/btf/vmlinux on the development kernel; the verifier enforces ctx
// access offsets, so a mismatch fails the load rather than misreading).
//
//   struct bpf_nf_ctx { const struct nf_hook_state *state; struct sk_buff *skb; };
//   struct nf_hook_state { u8 hook; u8 pf; struct net_device *in, *out; struct sock *sk;
//                          struct net *net; int (*okfn)(...); };

#include <cstddef>
#include <cstdint>

namespace nfbpf::codegen::abi {

inline constexpr int16_t kNfCtxStateOff = 0;  // bpf_nf_ctx.state
inline constexpr int16_t kNfCtxSkbOff = 8;    // bpf_nf_ctx.skb
inline constexpr int16_t kNfStateHookOff = 0;  // nf_hook_state.hook (u8)
inline constexpr int16_t kNfStatePfOff = 1;    // nf_hook_state.pf (u8)
inline constexpr int16_t kNfStateInOff = 8;    // nf_hook_state.in (struct net_device *)
inline constexpr int16_t kNfStateOutOff = 16;  // nf_hook_state.out

// What BPF_PROG_TEST_RUN accepts as ctx_in for a netfilter program: only hook and pf may be set.
struct NfHookStateIn {
  uint8_t hook;
  uint8_t pf;
  uint8_t pad[6];
  uint64_t in, out, sk, net, okfn;  // must be zero
};
static_assert(sizeof(NfHookStateIn) == 48);
static_assert(offsetof(NfHookStateIn, in) == kNfStateInOff);
static_assert(offsetof(NfHookStateIn, out) == kNfStateOutOff);

}  // namespace nfbpf::codegen::abi
