// ct keys at netfilter hooks, as nft_ct_get_eval computes them, from skb->_nfct:
//   ctinfo = _nfct & 7 (NFCT_INFOMASK), ct = _nfct & ~7 (NFCT_PTRMASK)
//   state      ct: NF_CT_STATE_BIT(ctinfo) = 1 << (ctinfo % IP_CT_IS_REPLY + 1); no ct: UNTRACKED (64)
//              when ctinfo is IP_CT_UNTRACKED (7), else INVALID (1)
//   every other key breaks (NFT_BREAK) without an entry; with one:
//   direction  CTINFO2DIR(ctinfo): ctinfo >= IP_CT_IS_REPLY (3)
//   status, mark, secmark  the nf_conn fields (status: its low 32 bits, as `*dest = ct->status`)
//   expiration jiffies_to_msecs(max((s32)(ct->timeout - (u32)jiffies), 0)): bpf_jiffies64 and the
//              kernel's HZ (read at compile time; HZ must divide 1000, as it does for 100/250/1000)
//   l3proto, protocol      the original tuple's src.l3num / dst.protonum (one byte)
//   zone       zone.id; with a direction, zone.id if zone.dir has that direction's bit, else 0
//   saddr/daddr (ct original/reply saddr): the tuple's u3; 4 bytes in ip tables, 16 in ip6/inet
//              tables (an IPv4 entry's 12 trailing bytes read 0: nf_ct_get_tuple zeroes tuples)
//   ip saddr/daddr, ip6 saddr/daddr: the same, but break unless the entry's l3num is that family
//   proto-src, proto-dst   the tuple's src.u.all / dst.u.all (network order)
// struct nf_conn is reached with bpf_rdonly_cast (read-only, fault-safe loads); offsets come from
// vmlinux BTF at link time (emit/kernel_field.h). Conntrack runs only while some kernel table
// uses it: nfbpfd keeps one for offloaded rulesets that read ct (nfnl-server/offload/conntrack_anchor.h).
//   bytes, packets, avgpkt: the accounting extension (nf_conn_acct_find; 0 without it), one
//              direction or both summed; avgpkt = bytes / packets (0 when no packets)
//   label      the labels extension's 16 bytes (0 without it)
// Extensions sit at ct->ext + ext->offset[id] (NF_CT_EXT_ACCT 3, NF_CT_EXT_LABELS 7 on kernels
// with NAT built in), a variable offset: bpf_probe_read_kernel copies them to the stack.
//   helper     of ct->master (nft_ct_get_eval reads the MASTER's helper: only expected
//              connections, e.g. an ftp data connection, have one): the helper extension's
//              (NF_CT_EXT_HELPER 0) nf_conn_help.helper->name, 16 bytes; breaks without a master,
//              without the extension or without a helper
// Refused: id, event mask, and ct anywhere but netfilter hooks.
#include "codegen/matcher/ct.h"

#include <linux/bpf.h>

#include "codegen/abi/netfilter.h"
#include "codegen/matcher/load.h"
#include "translate/ir/fields.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Cond;
using emit::KernelField;
using emit::Reg;
using emit::Size;
using ir::CtKey;

namespace {

constexpr int32_t kNfprotoIpv4 = 2, kNfprotoIpv6 = 10;

bool tuple_key(CtKey k) {
  switch (k) {
    case CtKey::kSrc: case CtKey::kDst: case CtKey::kProtoSrc: case CtKey::kProtoDst:
    case CtKey::kSrcIp: case CtKey::kDstIp: case CtKey::kSrcIp6: case CtKey::kDstIp6:
      return true;
    default:
      return false;
  }
}

// The register width nft_ct_get_init gives the key (kSrc/kDst: up to 16), 0 = not offloaded.
uint32_t key_width(CtKey k) {
  switch (k) {
    case CtKey::kState: case CtKey::kStatus: case CtKey::kMark: case CtKey::kSecmark: case CtKey::kExpiration:
    case CtKey::kSrcIp: case CtKey::kDstIp:
      return 4;
    case CtKey::kDirection: case CtKey::kL3Proto: case CtKey::kProtocol:
      return 1;
    case CtKey::kZone: case CtKey::kProtoSrc: case CtKey::kProtoDst:
      return 2;
    case CtKey::kSrc: case CtKey::kDst: case CtKey::kSrcIp6: case CtKey::kDstIp6: case CtKey::kLabels:
    case CtKey::kHelper:  // NF_CT_HELPER_NAME_LEN
      return 16;
    case CtKey::kPkts: case CtKey::kBytes: case CtKey::kAvgPkt:
      return 8;
    default:
      return 0;
  }
}

std::string_view refusal(CtKey k) {
  switch (k) {
    case CtKey::kId: return "nf_ct_get_id hashes with a boot-time secret BPF cannot read";
    default: return "not supported";
  }
}

KernelField tuple_field(CtKey k, ir::CtDir dir) {
  bool reply = dir == ir::CtDir::kReply;
  switch (k) {
    case CtKey::kSrc: case CtKey::kSrcIp: case CtKey::kSrcIp6:
      return reply ? KernelField::kNfConnReplySrc : KernelField::kNfConnOrigSrc;
    case CtKey::kDst: case CtKey::kDstIp: case CtKey::kDstIp6:
      return reply ? KernelField::kNfConnReplyDst : KernelField::kNfConnOrigDst;
    case CtKey::kProtoSrc: return reply ? KernelField::kNfConnReplySport : KernelField::kNfConnOrigSport;
    default: return reply ? KernelField::kNfConnReplyDport : KernelField::kNfConnOrigDport;
  }
}

// r1 = skb->_nfct.
void load_nfct(EmitCtx& c) {
  c.p.ldx(Size::kDW, Reg::R1, emit::kCtx, abi::kNfCtxSkbOff);
  c.p.ldx(Size::kDW, Reg::R1, Reg::R1, static_cast<int16_t>(*c.skb_nfct_offset));
}

// r0 = the packet's struct nf_conn (read-only BTF pointer), or jump to fail when it has none.
void load_conn(EmitCtx& c, emit::Label& fail) {
  emit::Program& p = c.p;
  load_nfct(c);
  p.alu(AluOp::kAnd, Reg::R1, -8);  // NFCT_PTRMASK
  p.jmp(Cond::kEq, Reg::R1, 0, fail);
  p.mov_btf_type(Reg::R2, emit::KernelType::kNfConn);
  p.call_kfunc(emit::Kfunc::kRdonlyCast);
}

void emit_state(EmitCtx& c) {
  emit::Program& p = c.p;
  load_nfct(c);
  p.mov(Reg::R2, Reg::R1);
  p.alu(AluOp::kAnd, Reg::R2, -8);  // NFCT_PTRMASK
  p.alu(AluOp::kAnd, Reg::R1, 7);   // NFCT_INFOMASK: ctinfo
  emit::Label tracked(p), done(p);
  p.jmp(Cond::kNe, Reg::R2, 0, tracked);
  {
    auto untracked = p.jmp_fwd(Cond::kEq, Reg::R1, 7);
    p.mov(Reg::R1, 1);
    p.jmp(done);
  }
  p.mov(Reg::R1, 64);
  p.jmp(done);
  p.bind(tracked);
  p.alu(AluOp::kMod, Reg::R1, 3);
  p.alu(AluOp::kAdd, Reg::R1, 1);
  p.mov(Reg::R2, 1);
  p.alu(AluOp::kLsh, Reg::R2, Reg::R1);
  p.mov(Reg::R1, Reg::R2);
  p.bind(done);
}

Result<void> emit_expiration(EmitCtx& c, emit::Label& fail) {
  emit::Program& p = c.p;
  auto hz = read_kernel_hz();
  if (!hz) return std::unexpected(std::move(hz).error());
  if (*hz == 0 || *hz > 1000 || 1000 % *hz != 0)
    return failf(EOPNOTSUPP, "ct expiration: HZ {} does not divide 1000", *hz);
  auto slot = c.stack.alloc(8);
  if (!slot) return std::unexpected(std::move(slot).error());
  // nfct_time_stamp is (u32)jiffies; read it before the helper call clobbers the ct pointer.
  p.call_helper(BPF_FUNC_jiffies64);
  p.stx(Size::kDW, kTmp, at(*slot), Reg::R0);
  load_conn(c, fail);
  p.ldx_field(Size::kW, Reg::R1, Reg::R0, KernelField::kNfConnTimeout);
  p.ldx(Size::kDW, Reg::R2, kTmp, at(*slot));
  p.alu32(AluOp::kSub, Reg::R1, Reg::R2);  // (u32)(timeout - nfct_time_stamp)
  emit::Label alive(p);
  p.jmp32(Cond::kSge, Reg::R1, 0, alive);  // nf_ct_expires: max((s32)..., 0)
  p.mov(Reg::R1, 0);
  p.bind(alive);
  const int32_t ms_per_jiffy = static_cast<int32_t>(1000 / *hz);
  if (ms_per_jiffy != 1) p.alu32(AluOp::kMul, Reg::R1, ms_per_jiffy);  // unsigned int, as jiffies_to_msecs
  return {};
}

// The packet's conntrack extension (nf_ct_ext_find): `len` bytes at ext + ext->offset[id] copied
// to a fresh stack slot, zeros when the entry has no such extension (nft reads 0 then, for
// accounting and labels alike). The extension sits at a variable offset, which BTF loads cannot
// take: bpf_probe_read_kernel copies it. Returns the slot; jumps to fail without an entry.
// With of_master, the extension of ct->master (jumps to fail when there is none).
Result<int16_t> load_extension(EmitCtx& c, KernelField offset_of_id, int32_t len, emit::Label& fail, bool of_master = false) {
  emit::Program& p = c.p;
  auto slot = c.stack.alloc(static_cast<uint16_t>(len));
  if (!slot) return std::unexpected(std::move(slot).error());
  for (int16_t o = 0; o < len; o += 8) p.st(Size::kDW, kTmp, at(static_cast<int16_t>(*slot + o)), 0);
  load_conn(c, fail);
  if (of_master) {
    p.ldx_field(Size::kDW, Reg::R1, Reg::R0, KernelField::kNfConnMaster);
    p.jmp(Cond::kEq, Reg::R1, 0, fail);
    p.mov_btf_type(Reg::R2, emit::KernelType::kNfConn);
    p.call_kfunc(emit::Kfunc::kRdonlyCast);
  }
  emit::Label absent(p);
  p.ldx_field(Size::kDW, Reg::R3, Reg::R0, KernelField::kNfConnExt);
  p.jmp(Cond::kEq, Reg::R3, 0, absent);
  p.ldx_field(Size::kB, Reg::R2, Reg::R3, offset_of_id);
  p.jmp(Cond::kEq, Reg::R2, 0, absent);
  p.alu(AluOp::kAdd, Reg::R3, Reg::R2);
  p.mov(Reg::R1, kTmp);
  p.alu(AluOp::kAdd, Reg::R1, at(*slot));
  p.mov(Reg::R2, len);
  p.call_helper(BPF_FUNC_probe_read_kernel);  // on a fault it zero-fills: reads as absent
  p.bind(absent);
  return *slot;
}

// r1 = packets or bytes of one direction (dir 0/1) or both (nft_ct_get_eval_counter), from the
// nf_conn_acct copy at `slot`: counter[dir] = {atomic64 packets, atomic64 bytes}.
void acct_counter(emit::Program& p, int16_t slot, bool bytes, ir::CtDir dir, Reg dst) {
  const int16_t field = bytes ? 8 : 0;
  if (dir != ir::CtDir::kAny) {
    p.ldx(Size::kDW, dst, kTmp, at(static_cast<int16_t>(slot + (dir == ir::CtDir::kReply ? 16 : 0) + field)));
    return;
  }
  p.ldx(Size::kDW, dst, kTmp, at(static_cast<int16_t>(slot + field)));
  p.ldx(Size::kDW, Reg::R5, kTmp, at(static_cast<int16_t>(slot + 16 + field)));
  p.alu(AluOp::kAdd, dst, Reg::R5);
}

}  // namespace

Result<void> ct_supported(const flavor::FlavorOps& fl, const ir::Field& f, bool have_nfct) {
  auto k = static_cast<CtKey>(f.key);
  if (fl.flavor != flavor::Flavor::kNetfilter || !have_nfct)
    return failf(EOPNOTSUPP, "{} cannot be read at {} hooks (conntrack is attached to packets at netfilter hooks only)",
                 field_label(f), fl.name);
  uint32_t width = key_width(k);
  if (width == 0) return failf(EOPNOTSUPP, "{} cannot be read at {} hooks ({})", field_label(f), fl.name, refusal(k));
  if (tuple_key(k) && f.dir == ir::CtDir::kAny)
    return failf(EINVAL, "{}: needs a direction (original or reply)", field_label(f));
  if (f.len == 0 || f.len > width) return failf(EOPNOTSUPP, "{}: a {}-byte load of a {}-byte key", field_label(f), f.len, width);
  if (k == CtKey::kExpiration) {
    auto hz = read_kernel_hz();
    if (!hz) return failf(EOPNOTSUPP, "{}: {}", field_label(f), hz.error().msg);
  }
  return {};
}

Result<Loaded> load_ct(EmitCtx& c, const ir::Field& f, emit::Label& fail) {
  emit::Program& p = c.p;
  if (!c.skb_nfct_offset) return failf(EOPNOTSUPP, "{}: sk_buff._nfct offset unknown", field_label(f));
  auto k = static_cast<CtKey>(f.key);
  uint32_t width = key_width(k);

  switch (k) {
    case CtKey::kState:
      emit_state(c);
      break;
    case CtKey::kDirection:
      load_nfct(c);
      p.mov(Reg::R2, Reg::R1);
      p.alu(AluOp::kAnd, Reg::R2, -8);
      p.jmp(Cond::kEq, Reg::R2, 0, fail);
      p.alu(AluOp::kAnd, Reg::R1, 7);
      {
        emit::Label orig(p), done(p);
        p.jmp(Cond::kLt, Reg::R1, 3, orig);  // IP_CT_IS_REPLY
        p.mov(Reg::R1, 1);
        p.jmp(done);
        p.bind(orig);
        p.mov(Reg::R1, 0);
        p.bind(done);
      }
      break;
    case CtKey::kStatus:
    case CtKey::kMark:
    case CtKey::kSecmark:
      load_conn(c, fail);
      p.ldx_field(Size::kW, Reg::R1, Reg::R0,
                  k == CtKey::kStatus ? KernelField::kNfConnStatus
                  : k == CtKey::kMark ? KernelField::kNfConnMark : KernelField::kNfConnSecmark);
      break;
    case CtKey::kExpiration: {
      NFBPF_TRYV(emit_expiration(c, fail));
      break;
    }
    case CtKey::kL3Proto:
      load_conn(c, fail);
      p.ldx_field(Size::kH, Reg::R1, Reg::R0, KernelField::kNfConnL3num);
      p.alu(AluOp::kAnd, Reg::R1, 0xff);  // nft_reg_store8
      break;
    case CtKey::kProtocol:
      load_conn(c, fail);
      p.ldx_field(Size::kB, Reg::R1, Reg::R0, KernelField::kNfConnProtonum);
      break;
    case CtKey::kZone:
      load_conn(c, fail);
      p.ldx_field(Size::kH, Reg::R1, Reg::R0, KernelField::kNfConnZoneId);
      if (f.dir != ir::CtDir::kAny) {  // nf_ct_zone_id: the id only where the zone applies
        p.ldx_field(Size::kB, Reg::R2, Reg::R0, KernelField::kNfConnZoneDir);
        auto applies = p.jmp_fwd(Cond::kSet, Reg::R2, f.dir == ir::CtDir::kReply ? 2 : 1);
        p.mov(Reg::R1, 0);
      }
      break;
    case CtKey::kProtoSrc:
    case CtKey::kProtoDst:
      load_conn(c, fail);
      p.ldx_field(Size::kH, Reg::R1, Reg::R0, tuple_field(k, f.dir));
      break;
    case CtKey::kSrc:
    case CtKey::kDst:
    case CtKey::kSrcIp:
    case CtKey::kDstIp:
    case CtKey::kSrcIp6:
    case CtKey::kDstIp6: {
      load_conn(c, fail);
      if (k != CtKey::kSrc && k != CtKey::kDst) {
        p.ldx_field(Size::kH, Reg::R1, Reg::R0, KernelField::kNfConnL3num);
        bool v4 = k == CtKey::kSrcIp || k == CtKey::kDstIp;
        p.jmp(Cond::kNe, Reg::R1, v4 ? kNfprotoIpv4 : kNfprotoIpv6, fail);
      }
      const KernelField addr = tuple_field(k, f.dir);
      if (f.len == 4) {
        width = 4;
        p.ldx_field(Size::kW, Reg::R1, Reg::R0, addr);
        break;
      }
      auto slot = c.stack.alloc(16);
      if (!slot) return std::unexpected(std::move(slot).error());
      for (int16_t half = 0; half < 16; half += 8) {
        p.ldx_field(Size::kDW, Reg::R2, Reg::R0, addr, half);
        p.stx(Size::kDW, kTmp, at(static_cast<int16_t>(*slot + half)), Reg::R2);
      }
      p.mov(Reg::R1, kTmp);
      p.alu(AluOp::kAdd, Reg::R1, at(*slot));
      return Loaded{Loaded::Kind::kMem, f.len};
    }
    case CtKey::kPkts:
    case CtKey::kBytes:
    case CtKey::kAvgPkt: {
      auto slot = load_extension(c, KernelField::kNfCtExtAcct, 32, fail);
      if (!slot) return std::unexpected(std::move(slot).error());
      if (k != CtKey::kAvgPkt) {
        acct_counter(p, *slot, k == CtKey::kBytes, f.dir, Reg::R1);
        break;
      }
      acct_counter(p, *slot, false, f.dir, Reg::R2);
      acct_counter(p, *slot, true, f.dir, Reg::R1);
      emit::Label some(p), done(p);
      p.jmp(Cond::kNe, Reg::R2, 0, some);
      p.mov(Reg::R1, 0);
      p.jmp(done);
      p.bind(some);
      p.alu(AluOp::kDiv, Reg::R1, Reg::R2);  // div64_u64
      p.bind(done);
      break;
    }
    case CtKey::kHelper: {
      auto ptr = load_extension(c, KernelField::kNfCtExtHelper, 8, fail, /*of_master=*/true);  // nf_conn_help.helper
      if (!ptr) return std::unexpected(std::move(ptr).error());
      auto slot = c.stack.alloc(16);
      if (!slot) return std::unexpected(std::move(slot).error());
      p.ldx(Size::kDW, Reg::R1, kTmp, at(*ptr));
      p.jmp(Cond::kEq, Reg::R1, 0, fail);  // no extension, or no helper assigned: NFT_BREAK
      p.mov_btf_type(Reg::R2, emit::KernelType::kNfConntrackHelper);
      p.call_kfunc(emit::Kfunc::kRdonlyCast);
      for (int16_t half = 0; half < 16; half += 8) {  // strscpy_pad of a NUL-padded char[16]
        p.ldx_field(Size::kDW, Reg::R2, Reg::R0, KernelField::kNfCtHelperName, half);
        p.stx(Size::kDW, kTmp, at(static_cast<int16_t>(*slot + half)), Reg::R2);
      }
      p.mov(Reg::R1, kTmp);
      p.alu(AluOp::kAdd, Reg::R1, at(*slot));
      return Loaded{Loaded::Kind::kMem, f.len};
    }
    case CtKey::kLabels: {
      auto slot = load_extension(c, KernelField::kNfCtExtLabels, 16, fail);
      if (!slot) return std::unexpected(std::move(slot).error());
      p.mov(Reg::R1, kTmp);
      p.alu(AluOp::kAdd, Reg::R1, at(*slot));
      return Loaded{Loaded::Kind::kMem, f.len};
    }
    default:
      return failf(EOPNOTSUPP, "{}: {}", field_label(f), refusal(k));
  }
  if (f.len != 1 && f.len != 2 && f.len != 4 && !(f.len == 8 && width == 8))
    return failf(EOPNOTSUPP, "{}: {}-byte loads are not supported", field_label(f), f.len);
  if (f.len == 4 && width > 4) p.mov32(Reg::R1, Reg::R1);  // the low 4 bytes
  else if (f.len < width) p.alu(AluOp::kAnd, Reg::R1, static_cast<int32_t>((1u << (8 * f.len)) - 1));
  // A host-order key nft converted to network order for an ordered compare (byteorder, folded
  // into the field as host_order = false): hold the same bytes, i.e. swap them, as meta does.
  if (!f.host_order && ir::natively_host_order(f) && (f.len == 2 || f.len == 4 || f.len == 8))
    p.to_be(Reg::R1, 8 * static_cast<int>(f.len));
  return Loaded{Loaded::Kind::kReg, f.len};
}

}  // namespace nfbpf::codegen::matcher
