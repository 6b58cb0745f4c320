#pragma once
// Packet set-up shared by the flavors whose ctx is a struct __sk_buff (TCX, cgroup_skb): direct
// packet access from ctx->data (L2 for tc, L3 for cgroup); the slow path (non-linear data) uses
// bpf_dynptr_from_skb(ctx).

#include <linux/bpf.h>

#include <cstddef>

#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {

static_assert(offsetof(__sk_buff, len) == 0, "emit_ctx_direct_init reads the length at 0");

inline void emit_skb_ctx_init(emit::Program& p, emit::Label& fail, uint32_t l3_offset) {
  emit_ctx_direct_init(p, fail, l3_offset, offsetof(__sk_buff, data), offsetof(__sk_buff, data_end), true);
}

}  // namespace nfbpf::codegen::flavor
