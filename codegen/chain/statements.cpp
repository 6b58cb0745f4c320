#include "codegen/chain/statements.h"

#include "codegen/chain/compile.h"
#include "codegen/runtime/counters.h"
#include "codegen/flavor/packet.h"
#include "codegen/matcher/load.h"

namespace nfbpf::codegen::chain {

using emit::AluOp;
using emit::Cond;
using emit::Reg;
using emit::Size;

namespace {

constexpr int16_t kSkMark = 8;

// The key slot of the MAIN frame, through r7 (subprogram frames keep no stack of their own).
void key_ptr(emit::Program& p, Reg dst, uint32_t slot) {
  p.st(Size::kW, prologue::kPkt, prologue::rel(emit::kKeyOff), static_cast<int32_t>(slot));
  p.mov(dst, prologue::kPkt);
  p.alu(AluOp::kAdd, dst, prologue::rel(emit::kKeyOff));
}

// r0 = &map[slot] (ARRAY map `name`), or jumps to `fail` (slot out of range: cannot happen).
void lookup_slot(emit::Program& p, std::string_view name, uint32_t slot, emit::Label& fail) {
  p.ld_map_fd(Reg::R1, p.map(name));
  key_ptr(p, Reg::R2, slot);
  p.call_helper(BPF_FUNC_map_lookup_elem);
  p.jmp(Cond::kEq, Reg::R0, 0, fail);
}

bpf_insn atomic(uint8_t size, Reg dst, Reg src, int32_t op) {
  bpf_insn i{};
  i.code = static_cast<uint8_t>(BPF_STX | size | BPF_ATOMIC);
  i.dst_reg = emit::reg_num(dst);
  i.src_reg = emit::reg_num(src);
  i.off = 0;
  i.imm = op;
  return i;
}

}  // namespace

Result<void> emit_quota(matcher::EmitCtx& c, const ir::Quota& q, uint32_t slot, emit::Label& fail) {
  emit::Program& p = c.p;
  lookup_slot(p, kQuotaMapName, slot, fail);
  matcher::emit_skb_len(c, Reg::R1);
  p.mov(Reg::R2, Reg::R1);
  p.raw(atomic(BPF_DW, Reg::R0, Reg::R1, BPF_ADD | BPF_FETCH));  // r1 = old consumed
  p.alu(AluOp::kAdd, Reg::R1, Reg::R2);                           // consumed now
  p.ld_imm64(Reg::R3, q.bytes);
  p.jmp(q.over ? Cond::kLe : Cond::kGt, Reg::R1, Reg::R3, fail);
  return {};
}

Result<void> emit_limit(matcher::EmitCtx& c, const ir::Limit& l, uint32_t slot, emit::Label& brk) {
  if (l.rate == 0) return fail(EINVAL, "limit with rate 0");
  uint64_t nsecs;
  if (__builtin_mul_overflow(l.unit_seconds, uint64_t{1000000000}, &nsecs)) return fail(EOVERFLOW, "limit unit");
  uint64_t burst = l.burst;
  if (!l.bytes && burst == 0) burst = 5;  // NFT_LIMIT_PKT_BURST_DEFAULT
  uint64_t tokens_max, tmp;
  if (!l.bytes) {
    if (__builtin_mul_overflow(nsecs / l.rate, burst, &tokens_max)) return fail(EOVERFLOW, "limit burst");
  } else {
    if (__builtin_mul_overflow(nsecs, l.rate + burst, &tmp)) return fail(EOVERFLOW, "limit rate");
    tokens_max = tmp / l.rate;
    if (__builtin_mul_overflow(nsecs, uint64_t{65535}, &tmp))
      return fail(EOPNOTSUPP, "byte limit with a unit this long overflows the cost computation");
  }
  emit::Program& p = c.p;
  int16_t mark = c.stack.mark();
  auto now_slot = c.stack.alloc(8);
  auto cost_slot = c.stack.alloc(8);
  if (!now_slot || !cost_slot) return fail(ENOSPC, "BPF stack exhausted (limit)");
  // cost
  if (l.bytes) {
    matcher::emit_skb_len(c, Reg::R1);
    p.ld_imm64(Reg::R2, nsecs);
    p.alu(AluOp::kMul, Reg::R1, Reg::R2);
    p.ld_imm64(Reg::R2, l.rate);
    p.alu(AluOp::kDiv, Reg::R1, Reg::R2);
  } else {
    p.ld_imm64(Reg::R1, nsecs / l.rate);
  }
  p.stx(Size::kDW, matcher::kTmp, matcher::at(*cost_slot), Reg::R1);
  p.call_helper(BPF_FUNC_ktime_get_ns);
  p.stx(Size::kDW, matcher::kTmp, matcher::at(*now_slot), Reg::R0);
  emit::Label limited(p), passed(p), map_fail(p);
  lookup_slot(p, kLimitMapName, slot, map_fail);
  p.mov(Reg::R5, Reg::R0);
  p.ldx(Size::kDW, Reg::R4, matcher::kTmp, matcher::at(*now_slot));
  p.ldx(Size::kDW, Reg::R1, Reg::R5, 0);  // TAT
  for (int i = 0; i < kLimitCasRetries; ++i) {
    p.mov(Reg::R2, Reg::R4);
    {
      auto later = p.jmp_fwd(Cond::kGe, Reg::R4, Reg::R1);
      p.mov(Reg::R2, Reg::R1);  // r2 = max(TAT, now)
    }
    p.mov(Reg::R3, Reg::R2);
    p.alu(AluOp::kSub, Reg::R3, Reg::R4);  // debt
    p.ldx(Size::kDW, Reg::R0, matcher::kTmp, matcher::at(*cost_slot));
    p.alu(AluOp::kAdd, Reg::R3, Reg::R0);
    p.alu(AluOp::kAdd, Reg::R2, Reg::R0);  // new TAT
    p.ld_imm64(Reg::R0, tokens_max);
    p.jmp(Cond::kGt, Reg::R3, Reg::R0, limited);
    p.mov(Reg::R0, Reg::R1);
    p.raw(atomic(BPF_DW, Reg::R5, Reg::R2, BPF_CMPXCHG));  // r0 = old; stored if old == r1
    p.jmp(Cond::kEq, Reg::R0, Reg::R1, passed);
    p.mov(Reg::R1, Reg::R0);  // somebody else won: retry with the value they left
  }
  p.jmp(limited);
  p.bind(map_fail);
  p.jmp(brk);
  p.bind(limited);
  if (l.over) {
    auto skip = p.jmp_fwd();
    p.bind(passed);
    p.jmp(brk);
  } else {
    p.jmp(brk);
    p.bind(passed);
  }
  c.stack.release_to(mark);
  return {};
}

void emit_counter(matcher::EmitCtx& c, uint32_t slot) {
  emit::Program& p = c.p;
  if (c.f.flavor != flavor::Flavor::kTcxEgress) {
    runtime::emit_count(p, p.map(runtime::kCountersMapName), slot, prologue::pkt_ref());
    return;
  }
  // runtime::emit_count adds the L3 length; nft counts skb->len, the whole frame at tc egress.
  p.ld_map_fd(Reg::R1, p.map(runtime::kCountersMapName));
  key_ptr(p, Reg::R2, slot);
  p.call_helper(BPF_FUNC_map_lookup_elem);
  auto skip = p.jmp_fwd(Cond::kEq, Reg::R0, 0);
  p.mov(Reg::R1, 1);
  p.atomic_add(Size::kDW, Reg::R0, offsetof(abi::Counter, packets), Reg::R1);
  matcher::emit_skb_len(c, Reg::R1);
  p.atomic_add(Size::kDW, Reg::R0, offsetof(abi::Counter, bytes), Reg::R1);
}

void emit_counter_from(matcher::EmitCtx& c, int16_t slot_temp) {
  emit::Program& p = c.p;
  p.ldx(Size::kW, Reg::R1, matcher::kTmp, matcher::at(slot_temp));
  p.stx(Size::kW, prologue::kPkt, prologue::rel(emit::kKeyOff), Reg::R1);
  p.ld_map_fd(Reg::R1, p.map(runtime::kCountersMapName));
  p.mov(Reg::R2, prologue::kPkt);
  p.alu(AluOp::kAdd, Reg::R2, prologue::rel(emit::kKeyOff));
  p.call_helper(BPF_FUNC_map_lookup_elem);
  auto skip = p.jmp_fwd(Cond::kEq, Reg::R0, 0);  // only if the slot is past the table
  p.mov(Reg::R1, 1);
  p.atomic_add(Size::kDW, Reg::R0, offsetof(abi::Counter, packets), Reg::R1);
  if (c.f.flavor == flavor::Flavor::kTcxEgress) matcher::emit_skb_len(c, Reg::R1);  // as emit_counter
  else flavor::emit_load_l3_len(p, Reg::R1, prologue::pkt_ref());
  p.atomic_add(Size::kDW, Reg::R0, offsetof(abi::Counter, bytes), Reg::R1);
}

Result<void> emit_set_mark(matcher::EmitCtx& c, const ir::SetMark& m) {
  bool skb_ctx = c.f.flavor != flavor::Flavor::kNetfilter && c.f.flavor != flavor::Flavor::kXdp;
  if (!skb_ctx) return failf(EOPNOTSUPP, "meta mark set: {} programs cannot write skb->mark", c.f.name);
  emit::Program& p = c.p;
  p.ldx(Size::kW, Reg::R1, emit::kCtx, kSkMark);
  if (m.clear != 0) p.alu32(AluOp::kAnd, Reg::R1, static_cast<int32_t>(~m.clear));
  if (m.value != 0) p.alu32(AluOp::kXor, Reg::R1, static_cast<int32_t>(m.value));
  p.stx(Size::kW, emit::kCtx, kSkMark, Reg::R1);
  return {};
}

}  // namespace nfbpf::codegen::chain
