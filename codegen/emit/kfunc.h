#pragma once
// Kernel functions (kfuncs) the generated code calls. A kfunc call is emitted with a typed fixup;
// its BTF id is resolved from /sys/kernel/btf/vmlinux at load time (kernel::Kernel::kfunc_btf_id),
// so emitted programs and their disassembly do not depend on the running kernel's BTF.

#include <array>
#include <cstdint>
#include <string_view>

namespace nfbpf::codegen::emit {

enum class Kfunc : uint8_t {
  kDynptrFromSkb,  // int bpf_dynptr_from_skb(struct __sk_buff *skb, u64 flags, struct bpf_dynptr *p)
  kDynptrFromXdp,  // int bpf_dynptr_from_xdp(struct xdp_md *x, u64 flags, struct bpf_dynptr *p)
  kDynptrSlice,    // void *bpf_dynptr_slice(const struct bpf_dynptr *p, u32 off, void *buf, u32 len)
  kDynptrSize,     // u32 bpf_dynptr_size(const struct bpf_dynptr *p)
  kRdonlyCast,     // void *bpf_rdonly_cast(const void *obj, u32 btf_id): read-only PTR_TO_BTF_ID
  kCastToKernCtx,  // void *bpf_cast_to_kern_ctx(void *ctx): tc's __sk_buff -> trusted struct sk_buff *
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(Kfunc::kCount)> kKfuncNames = {
    "bpf_dynptr_from_skb",
    "bpf_dynptr_from_xdp",
    "bpf_dynptr_slice",
    "bpf_dynptr_size",
    "bpf_rdonly_cast",
    "bpf_cast_to_kern_ctx",
};
static_assert(kKfuncNames.size() == static_cast<size_t>(Kfunc::kCount));

inline constexpr std::string_view kfunc_name(Kfunc k) { return kKfuncNames[static_cast<size_t>(k)]; }

}  // namespace nfbpf::codegen::emit
