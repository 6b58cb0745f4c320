#pragma once
// Which meta keys each hook flavor can read, and the emitters behind the keys that go through
// kernel objects (meta.cpp is the dispatcher). Values follow nft_meta_get_eval; a key whose object
// is missing for this packet (no socket, no device, no route) jumps to `fail` (NFT_BREAK).

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

// EOPNOTSUPP naming the key and the flavor when the key cannot be read there at all.
Result<void> meta_supported(const flavor::FlavorOps& f, const ir::Field& field);

// r1 = the packet's struct sk_buff as a BTF pointer: netfilter ctx->skb; tc and cgroup_skb the
// __sk_buff context cast with bpf_cast_to_kern_ctx. Not at XDP (no skb). Clobbers r0-r5.
void emit_skb_ptr(EmitCtx& c, emit::Reg dst);

// meta skuid / skgid / cgroup (meta_socket.cpp): r1 = the value, or jump to fail. With
// follow_request_sock = false a request sock is not a full socket (nf_log's UID=/GID= rule).
void emit_socket_key(EmitCtx& c, ir::MetaKey k, emit::Label& fail, bool follow_request_sock = true);

// r1 = the device nft_in (out = false) or nft_out gives at this hook, possibly NULL: netfilter
// state->in/out; tc the skb's own device on its side (in at ingress, out at egress); else NULL.
void emit_hook_dev(EmitCtx& c, bool out);

// rt classid / ip nexthop / ip6 nexthop / ipsec, meta rtclassid (meta_route.cpp): the whole
// load (nexthop6: 16 bytes on the stack), or jump to fail.
Result<Loaded> load_route_key(EmitCtx& c, const ir::Field& f, emit::Label& fail);

// meta time / day / hour (meta_clock.cpp): r1 = the value (realtime ns, weekday, second of the day).
Result<void> emit_clock_key(EmitCtx& c, ir::MetaKey k);

// The offsets the clock keys bake in, read from the running kernel when the program is compiled:
// CLOCK_TAI - CLOCK_REALTIME (adjtimex's tai, seconds) and the kernel's sys_tz (minutes west).
struct ClockOffsets {
  int64_t tai_seconds = 0;
  int32_t minutes_west = 0;
};
Result<ClockOffsets> read_clock_offsets();

}  // namespace nfbpf::codegen::matcher
