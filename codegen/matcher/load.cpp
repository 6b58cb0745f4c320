#include "codegen/matcher/load.h"

#include "codegen/matcher/ct.h"
#include "codegen/matcher/meta.h"

#include <algorithm>

#include <fmt/format.h>
#include <linux/bpf.h>

#include "codegen/flavor/packet.h"
#include "codegen/matcher/exthdr.h"
#include "translate/ir/fields.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::Reg;
using emit::Size;
using prologue::kPkt;
using prologue::pkt_ref;
using prologue::rel;

namespace {

bool is_pow2_len(uint32_t n) { return n == 1 || n == 2 || n == 4 || n == 8; }

Size size_of(uint32_t n) {
  switch (n) {
    case 1: return Size::kB;
    case 2: return Size::kH;
    case 4: return Size::kW;
    default: return Size::kDW;
  }
}

// nft_payload_select_ops picks nft_payload_fast_eval for aligned 1/2/4-byte loads, and that one
// does not check the fragment offset (verified against the kernel by translate/eval's
// kernel_diff_test): such transport reads happen in non-first fragments too.
bool nft_fast_path(const ir::Field& f) { return (f.len == 1 || f.len == 2 || f.len == 4) && f.offset % f.len == 0; }

bool l2_flavor(flavor::Flavor f) {
  return f == flavor::Flavor::kXdp || f == flavor::Flavor::kTcxIngress || f == flavor::Flavor::kTcxEgress;
}

// nft_payload_eval copies loads that end past the MAC addresses (offsetof(ethhdr, h_proto) = 12)
// through nft_payload_copy_vlan when the skb carries an accelerated VLAN tag (skb->vlan_all != 0);
// loads within the first 12 bytes, and every load of an untagged skb, read skb_mac_header().
constexpr uint32_t kLlDirectEnd = 12;
constexpr uint32_t kEthHlen = 14;
constexpr uint32_t kVlanEthHlen = 18;  // MACs, TPID, TCI, encapsulated ethertype
constexpr uint32_t kVlanHlen = 4;

uint16_t round8(uint32_t n) { return static_cast<uint16_t>((n + 7) & ~7u); }

// r3 = skb->head + mac_header + `from` after checking that `from + n` bytes lie in the linear head
// (else `fail`), then copies them to the stack at kTmp + `dst` (r1 = skb, r2 = mac_header on entry;
// clobbers r0..r5). Bytes past skb->tail break: with at most 12 bytes in front of the network
// header that needs a link header shorter than the load and a linear head shorter than the rest,
// where the kernel's skb_copy_bits would go on into the fragments.
void emit_copy_from_mac(emit::Program& p, uint32_t from, uint32_t n, int16_t dst, emit::Label& fail) {
  using emit::KernelField;
  p.mov(Reg::R4, Reg::R2);
  p.alu(AluOp::kAdd, Reg::R4, static_cast<int32_t>(from + n));
  p.ldx_field(Size::kW, Reg::R5, Reg::R1, KernelField::kSkbTail);
  p.jmp(Cond::kGt, Reg::R4, Reg::R5, fail);
  p.ldx_field(Size::kDW, Reg::R3, Reg::R1, KernelField::kSkbHead);
  p.alu(AluOp::kAdd, Reg::R3, Reg::R2);
  if (from) p.alu(AluOp::kAdd, Reg::R3, static_cast<int32_t>(from));
  p.mov(Reg::R1, kTmp);
  p.alu(AluOp::kAdd, Reg::R1, dst);
  p.mov(Reg::R2, static_cast<int32_t>(n));
  p.call_helper(BPF_FUNC_probe_read_kernel);
  p.jmp(Cond::kNe, Reg::R0, 0, fail);
}

// nft_payload_copy_vlan for a tagged skb: the frame as it was before the tag was taken out, i.e.
// the MAC addresses, then skb->vlan_proto, htons(vlan_tci) and skb->protocol (18 bytes), then the
// bytes after the untagged ethertype (mac + 14 on). A load starting at or past byte 18 reads
// mac + offset - 4 directly. Leaves r0 = the load's bytes (in `buf`, or in `out` when it does not
// start at the frame's first byte).
void emit_nf_link_read_tagged(EmitCtx& c, const ir::Field& f, int16_t buf, int16_t out, emit::Label& fail) {
  using emit::KernelField;
  emit::Program& p = c.p;
  if (f.offset >= kVlanEthHlen) {
    emit_copy_from_mac(p, f.offset - kVlanHlen, f.len, at(buf), fail);
    p.mov(Reg::R0, kTmp);
    p.alu(AluOp::kAdd, Reg::R0, at(buf));
    return;
  }
  // buf[4..18) = frame[0..14) (skb_copy_bits of ETH_HLEN must succeed), buf[18..) = frame[14..):
  // one copy, then the MACs moved down to buf[0..12) and the 6 tag bytes written over buf[12..18).
  const uint32_t rest = f.offset + f.len > kVlanEthHlen ? f.offset + f.len - kVlanEthHlen : 0;
  emit_copy_from_mac(p, 0, kEthHlen + rest, static_cast<int16_t>(at(buf) + kVlanHlen), fail);
  for (int16_t w = 0; w < 12; w += 4) {  // 4-byte moves: the stack wants aligned accesses
    p.ldx(Size::kW, Reg::R1, kTmp, static_cast<int16_t>(at(buf) + w + 4));
    p.stx(Size::kW, kTmp, static_cast<int16_t>(at(buf) + w), Reg::R1);
  }
  emit_skb_ptr(c, Reg::R1);
  p.ldx_field(Size::kH, Reg::R2, Reg::R1, KernelField::kSkbVlanProto);  // already network order
  p.stx(Size::kH, kTmp, static_cast<int16_t>(at(buf) + 12), Reg::R2);
  p.ldx_field(Size::kH, Reg::R2, Reg::R1, KernelField::kSkbVlanTci);
  p.to_be(Reg::R2, 16);
  p.stx(Size::kH, kTmp, static_cast<int16_t>(at(buf) + 14), Reg::R2);
  p.ldx_field(Size::kH, Reg::R2, Reg::R1, KernelField::kSkbProtocol);
  p.stx(Size::kH, kTmp, static_cast<int16_t>(at(buf) + 16), Reg::R2);
  // The load starts at buf + offset; callers read it in one access, so move it to `out` (aligned).
  for (uint32_t i = 0; i < f.len && f.offset != 0; ++i) {
    p.ldx(Size::kB, Reg::R1, kTmp, static_cast<int16_t>(at(buf) + f.offset + i));
    p.stx(Size::kB, kTmp, static_cast<int16_t>(at(out) + i), Reg::R1);
  }
  p.mov(Reg::R0, kTmp);
  p.alu(AluOp::kAdd, Reg::R0, f.offset != 0 ? at(out) : at(buf));
}

// A link-layer load at a netfilter hook, as nft_payload_eval does it: break when the mac header
// was never set (0xffff) or is empty (network_header == mac_header), else copy the bytes at
// skb->head + mac_header + offset (through nft_payload_copy_vlan's view of the frame when the
// load ends past the MAC addresses and the skb has an accelerated VLAN tag).
// Leaves r0 = the copied bytes (a stack slot).
Result<void> emit_nf_link_read(EmitCtx& c, const ir::Field& f, emit::Label& fail) {
  using emit::KernelField;
  emit::Program& p = c.p;
  const bool vlan_adjust = f.offset + f.len > kLlDirectEnd;
  uint32_t size = f.len;
  if (vlan_adjust && f.offset < kVlanEthHlen) size = std::max(size, std::max(kVlanEthHlen, f.offset + f.len));
  auto slot = c.stack.alloc(round8(size));
  if (!slot) return std::unexpected(std::move(slot).error());
  int16_t out = *slot;
  if (vlan_adjust && f.offset != 0 && f.offset < kVlanEthHlen) {
    auto o = c.stack.alloc(round8(f.len));
    if (!o) return std::unexpected(std::move(o).error());
    out = *o;
  }
  emit_skb_ptr(c, Reg::R1);
  p.ldx_field(Size::kH, Reg::R2, Reg::R1, KernelField::kSkbMacHeader);
  p.jmp(Cond::kEq, Reg::R2, 0xffff, fail);  // !skb_mac_header_was_set
  p.ldx_field(Size::kH, Reg::R3, Reg::R1, KernelField::kSkbNetworkHeader);
  p.jmp(Cond::kEq, Reg::R2, Reg::R3, fail);  // skb_mac_header_len == 0
  emit::Label done(p);
  if (vlan_adjust) {
    emit::Label untagged(p);
    p.ldx_field(Size::kW, Reg::R3, Reg::R1, KernelField::kSkbVlanAll);
    p.jmp(Cond::kEq, Reg::R3, 0, untagged);
    emit_nf_link_read_tagged(c, f, *slot, out, fail);
    p.jmp(done);
    p.bind(untagged);
  }
  emit_copy_from_mac(p, f.offset, f.len, at(*slot), fail);
  p.mov(Reg::R0, kTmp);
  p.alu(AluOp::kAdd, Reg::R0, at(*slot));
  p.bind(done);
  return {};
}

}  // namespace

std::string field_label(const ir::Field& f) {
  if (auto n = ir::field_name(f)) return std::string(*n);
  switch (f.base) {
    case ir::Base::kLink: return fmt::format("@ll,{},{}", f.offset * 8, f.len * 8);
    case ir::Base::kNetwork: return fmt::format("@nh,{},{}", f.offset * 8, f.len * 8);
    case ir::Base::kTransport: return fmt::format("@th,{},{}", f.offset * 8, f.len * 8);
    case ir::Base::kXtTransport: return fmt::format("@xt6th,{},{}", f.offset * 8, f.len * 8);
    case ir::Base::kMeta: return fmt::format("meta {}", ir::to_string(static_cast<ir::MetaKey>(f.key)));
    case ir::Base::kCt: return fmt::format("ct {}", ir::to_string(static_cast<ir::CtKey>(f.key)));
    case ir::Base::kExtHdr:
      return f.ext_present ? fmt::format("exthdr {} {} exists", ir::to_string(static_cast<ir::ExtHdrOp>(f.key)), f.ext_type)
                           : fmt::format("exthdr {} {} @{},{}", ir::to_string(static_cast<ir::ExtHdrOp>(f.key)),
                                         f.ext_type, f.offset * 8, f.len * 8);
    default: return "?";
  }
}

Result<void> field_supported(const flavor::FlavorOps& fl, const ir::Field& f, bool have_nfct) {
  switch (f.base) {
    case ir::Base::kLink:
      if (!l2_flavor(fl.flavor) && fl.flavor != flavor::Flavor::kNetfilter)
        return failf(EOPNOTSUPP, "{}: the link-layer header is not readable at {} hooks", field_label(f), fl.name);
      [[fallthrough]];
    case ir::Base::kNetwork:
    case ir::Base::kTransport:
    case ir::Base::kXtTransport:
      if (f.len == 0 || f.len > static_cast<uint32_t>(emit::kSliceBufSize))
        return failf(EOPNOTSUPP, "{}: payload loads of {} bytes are not supported", field_label(f), f.len);
      return {};
    case ir::Base::kMeta:
      return meta_supported(fl, f);  // meta.cpp: which keys each flavor reads
    case ir::Base::kCt:
      return ct_supported(fl, f, have_nfct);  // ct.cpp: which keys run where
    case ir::Base::kExtHdr:
      return exthdr_supported(fl, f);
    default:
      return fail(EINVAL, "field with an unknown base");
  }
}

Result<Loaded> load_field(EmitCtx& c, const ir::Field& f, emit::Label& fail, bool want_mem) {
  NFBPF_TRYV(field_supported(c.f, f, c.skb_nfct_offset.has_value()));
  if (f.base == ir::Base::kMeta) return load_meta(c, f, fail);
  if (f.base == ir::Base::kCt) return load_ct(c, f, fail);
  if (f.base == ir::Base::kExtHdr) return load_exthdr(c, f, fail, want_mem);

  emit::Program& p = c.p;
  bool as_reg = !want_mem && is_pow2_len(f.len);
  if (f.base == ir::Base::kLink && c.f.flavor == flavor::Flavor::kNetfilter) {
    NFBPF_TRYV(emit_nf_link_read(c, f, fail));
    if (as_reg) p.ldx(size_of(f.len), Reg::R1, Reg::R0, 0);
    else p.mov(Reg::R1, Reg::R0);
    return Loaded{as_reg ? Loaded::Kind::kReg : Loaded::Kind::kMem, f.len};
  }
  uint32_t end = f.offset + f.len;
  std::optional<Reg> fast;
  if (f.base == ir::Base::kNetwork && end <= c.layout.l3_fast) fast = prologue::kL3Ptr;
  if (f.base == ir::Base::kTransport && end <= c.layout.l4_fast) fast = prologue::kL4Ptr;
  // x_tables' walk reads nft's slice behind r9 when both walks found the same header (the usual
  // case: no AH on the way); otherwise it slices its own.
  const bool xt = f.base == ir::Base::kXtTransport;
  if (xt && end <= c.layout.l4_fast) fast = prologue::kL4Ptr;

  // The per-field read when the header slice does not cover it: one slice of the field alone.
  const flavor::FlavorOps& fl = c.f;
  auto slow_read = [&p, &fl, f, as_reg, &fail] {
    switch (f.base) {
      case ir::Base::kNetwork:
        flavor::emit_slice(p, fl, f.offset, f.len, fail, pkt_ref());
        break;
      case ir::Base::kLink:
        flavor::emit_slice(p, fl, f.offset - fl.l3_offset, f.len, fail, pkt_ref());
        break;
      case ir::Base::kXtTransport:  // failed walk (thoff -1) or non-first fragment: no header
        p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kXtFragSlot));
        p.jmp(Cond::kNe, Reg::R1, 0, fail);
        p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kXtThoffSlot));
        p.jmp(Cond::kSlt, Reg::R1, 0, fail);
        p.jmp(Cond::kGt, Reg::R1, 0x7fff, fail);
        flavor::emit_slice_at(p, fl, Reg::R1, static_cast<int32_t>(f.offset), f.len, fail, pkt_ref());
        break;
      case ir::Base::kTransport:
        if (!nft_fast_path(f)) {  // nft_payload_eval: no transport header in a non-first fragment
          p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kFragSlot));
          p.jmp(Cond::kNe, Reg::R1, 0, fail);
        }
        p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kThoffSlot));
        p.jmp(Cond::kSlt, Reg::R1, 0, fail);
        flavor::emit_slice_at(p, fl, Reg::R1, static_cast<int32_t>(f.offset), f.len, fail, pkt_ref());
        break;
      default:
        break;
    }
    if (as_reg) p.ldx(size_of(f.len), Reg::R1, Reg::R0, 0);
    else p.mov(Reg::R1, Reg::R0);
  };
  auto fast_read = [&] {
    if (as_reg) {
      p.ldx(size_of(f.len), Reg::R1, *fast, static_cast<int16_t>(f.offset));
    } else {
      p.mov(Reg::R1, *fast);
      if (f.offset) p.alu(AluOp::kAdd, Reg::R1, static_cast<int32_t>(f.offset));
    }
  };
  // Equal offsets mean both walks ended at the same header, so r9 (when set: nft's fragment
  // offset 0, slice there) is x_tables' header too.
  auto same_walks = [&p](emit::Label& slow) {
    p.ldx(Size::kDW, Reg::R1, kPkt, rel(prologue::kXtThoffSlot));
    p.ldx(Size::kDW, Reg::R2, kPkt, rel(prologue::kThoffSlot));
    p.jmp(Cond::kNe, Reg::R1, Reg::R2, slow);
  };
  if (!fast) {
    slow_read();
  } else if (c.cold) {
    emit::Label& slow = c.cold->label(p);
    emit::Label& done = c.cold->label(p);
    if (xt) same_walks(slow);
    p.jmp(Cond::kEq, *fast, 0, slow);
    fast_read();
    p.bind(done);
    c.cold->will_jump_to(fail);
    c.cold->add([&p, &slow, &done, slow_read] {
      p.bind(slow);
      slow_read();
      p.jmp(done);
    });
  } else {
    emit::Label done(p), slow(p);
    if (xt) same_walks(slow);
    p.jmp(Cond::kEq, *fast, 0, slow);
    fast_read();
    p.jmp(done);
    p.bind(slow);
    slow_read();
    p.bind(done);
  }
  return Loaded{as_reg ? Loaded::Kind::kReg : Loaded::Kind::kMem, f.len};
}

}  // namespace nfbpf::codegen::matcher
