#pragma once
// Packet set-up shared by the flavors whose ctx is a struct __sk_buff (TCX, cgroup_skb): direct
// packet access from ctx->data (L2 for tc, L3 for cgroup); the slow path (non-linear data) uses
// bpf_dynptr_from_skb(ctx).

#include <linux/bpf.h>

#include <cstddef>
#include <string_view>

#include "codegen/flavor/flavor.h"

namespace nfbpf::codegen::flavor {

static_assert(offsetof(__sk_buff, len) == 0, "emit_ctx_direct_init reads the length at 0");

inline void emit_skb_ctx_init(emit::Program& p, emit::Label& fail, uint32_t l3_offset) {
  emit_ctx_direct_init(p, fail, l3_offset, offsetof(__sk_buff, data), offsetof(__sk_buff, data_end), true);
}

// The __sk_buff flavors differ only in these: the attach point (given both at load and at link
// time), where L3 starts, and the return codes. Packet access (direct, skb dynptr for the slow
// path) is the same for all of them.
constexpr FlavorOps skb_flavor_ops(Flavor flavor, std::string_view name, bpf_prog_type prog_type,
                                   bpf_attach_type attach, uint32_t l3_offset, int32_t accept, int32_t drop,
                                   void (*init)(emit::Program&, emit::Label&)) {
  return FlavorOps{
      .flavor = flavor,
      .name = name,
      .prog_type = prog_type,
      .expected_attach_type = attach,
      .attach_type = attach,
      .l3_offset = l3_offset,
      .accept = accept,
      .drop = drop,
      .packet_mode = PacketMode::kCtxDirect,
      .dynptr_ctor = emit::Kfunc::kDynptrFromSkb,
      .emit_packet_init = init,
  };
}

}  // namespace nfbpf::codegen::flavor
