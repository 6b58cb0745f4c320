#include "codegen/emit/disasm.h"

#include <gtest/gtest.h>

namespace nfbpf::codegen::emit {
namespace {

TEST(EmitDisasm, EveryInstructionKind) {
  Program p("all");
  Label l(p);
  p.mov(Reg::R6, Reg::R1);
  p.mov(Reg::R2, -3);
  p.mov32(Reg::R3, Reg::R2);
  p.mov32(Reg::R4, 0x7f000001);
  p.alu(AluOp::kAdd, Reg::R2, Reg::R3);
  p.alu(AluOp::kAnd, Reg::R2, 0xff);
  p.alu32(AluOp::kLsh, Reg::R3, 4);
  p.alu32(AluOp::kXor, Reg::R3, Reg::R4);
  p.neg(Reg::R5);
  p.to_be(Reg::R3, 16);
  p.ld_imm64(Reg::R1, 0x0123456789abcdefULL);
  p.ld_map_fd(Reg::R1, p.map("counters"));
  p.ldx(Size::kDW, Reg::R1, Reg::R6, 8);
  p.ldx(Size::kB, Reg::R2, Reg::R0, 9);
  p.stx(Size::kH, Reg::R10, -18, Reg::R2);
  p.st(Size::kW, Reg::R10, -32, 5);
  p.atomic_add(Size::kDW, Reg::R0, 8, Reg::R1);
  p.call_helper(BPF_FUNC_map_lookup_elem);
  p.call_kfunc(Kfunc::kDynptrFromSkb);
  p.jmp32(Cond::kNe, Reg::R0, 0, l);
  p.jmp(Cond::kSet, Reg::R2, Reg::R3, l);
  p.jmp(Cond::kEq, Reg::R1, static_cast<int32_t>(0xc0a80001u), l);
  p.jmp(l);
  p.bind(l);
  p.ret(1);
  EXPECT_EQ(disassemble(p),
            "   0: r6 = r1\n"
            "   1: r2 = -3\n"
            "   2: w3 = w2\n"
            "   3: w4 = 0x7f000001\n"
            "   4: r2 += r3\n"
            "   5: r2 &= 255\n"
            "   6: w3 <<= 4\n"
            "   7: w3 ^= w4\n"
            "   8: r5 = -r5\n"
            "   9: r3 = be16 r3\n"
            "  10: r1 = 0x123456789abcdef ll\n"
            "  12: r1 = map_fd(counters) ll\n"
            "  14: r1 = *(u64 *)(r6 + 8)\n"
            "  15: r2 = *(u8 *)(r0 + 9)\n"
            "  16: *(u16 *)(r10 - 18) = r2\n"
            "  17: *(u32 *)(r10 - 32) = 5\n"
            "  18: lock *(u64 *)(r0 + 8) += r1\n"
            "  19: call bpf_map_lookup_elem\n"
            "  20: call kfunc bpf_dynptr_from_skb\n"
            "  21: if w0 != 0 goto 25\n"
            "  22: if r2 & r3 goto 25\n"
            "  23: if r1 == 0xc0a80001 goto 25\n"
            "  24: goto 25\n"
            "  25: r0 = 1\n"
            "  26: exit\n");
}

TEST(EmitDisasm, RawImageWithoutNames) {
  Program p("raw");
  p.ld_map_fd(Reg::R2, p.map("prog_array"));
  p.call_kfunc(Kfunc::kDynptrSize);
  p.ret(0);
  EXPECT_EQ(disassemble(p.insns()),
            "   0: r2 = map_fd#0 ll\n"
            "   2: call kfunc#0\n"
            "   3: r0 = 0\n"
            "   4: exit\n");
}

TEST(EmitDisasm, SubprogramCallsLongJumpsAndMapValues) {
  Program p("sub");
  Label sub(p), end(p);
  p.ld_map_value(Reg::R1, p.map("config"), 16);
  p.call_local(sub);
  p.jmp_long(end);
  p.bind(sub);
  p.mov(Reg::R0, 1);
  p.exit();
  p.bind(end);
  p.exit();
  EXPECT_EQ(p.insns()[2].imm, 1);   // call: imm = target - (pc + 1)
  EXPECT_EQ(p.insns()[3].imm, 2);   // gotol: imm, not off
  EXPECT_EQ(p.insns()[3].off, 0);
  EXPECT_EQ(disassemble(p),
            "   0: r1 = map_value(config) + 16 ll\n"
            "   2: call 4\n"
            "   3: gotol 6\n"
            "   4: r0 = 1\n"
            "   5: exit\n"
            "   6: exit\n");
}

TEST(EmitDisasm, FarConditionalJumps) {
  Program p("far");
  Label t(p);
  p.jmp_far(Cond::kGt, Reg::R1, 7, t);
  p.jmp_far(Cond::kSet, Reg::R2, Reg::R3, t);
  p.ret(0);
  p.bind(t);
  p.ret(1);
  EXPECT_EQ(disassemble(p),
            "   0: if r1 <= 7 goto 2\n"
            "   1: gotol 7\n"
            "   2: if r2 & r3 goto 4\n"
            "   3: goto 5\n"
            "   4: gotol 7\n"
            "   5: r0 = 0\n"
            "   6: exit\n"
            "   7: r0 = 1\n"
            "   8: exit\n");
}

}  // namespace
}  // namespace nfbpf::codegen::emit
