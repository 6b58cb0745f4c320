#pragma once
// Reading one ir::Field (payload at any base/offset/length, meta keys, ct state) into r1, as the
// compare and lookup emitters want it (context.h Loaded). A field that cannot be read for this
// packet (no transport header, too short, no such device...) jumps to `fail`: in nft the rule
// breaks (NFT_BREAK), which is exactly a failed match. A field that cannot be read at this hook
// at all is refused with EOPNOTSUPP naming the field and the flavor.
//
// Payload: a field inside the prologue's header slice is one load from r8/r9; otherwise (or when
// that slice is missing for this packet) one bpf_dynptr_slice for the field alone (the slow path).
// Clobbers r0-r5.

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

// want_mem: deliver even 1/2/4/8-byte payload fields as memory (for copying into a map key).
Result<Loaded> load_field(EmitCtx& c, const ir::Field& f, emit::Label& fail, bool want_mem = false);

// Meta and ct loads (meta.cpp, ct.cpp): value in r1 (kReg) or, for names, r1 -> 16 bytes on the stack.
Result<Loaded> load_meta(EmitCtx& c, const ir::Field& f, emit::Label& fail);
Result<Loaded> load_ct(EmitCtx& c, const ir::Field& f, emit::Label& fail);

// Whether a field can be read at this flavor at all (the EOPNOTSUPP of load_field, without code).
Result<void> field_supported(const flavor::FlavorOps& f, const ir::Field& field, bool have_nfct = true);

std::string field_label(const ir::Field& f);

// dst = skb->len as nft sees it at this flavor: the L3 length, plus the Ethernet header at tc
// egress (skb->data is the frame there). What meta len, counters, quotas and byte limits use.
void emit_skb_len(EmitCtx& c, emit::Reg dst);

}  // namespace nfbpf::codegen::matcher
