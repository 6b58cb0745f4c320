#include "codegen/emit/program.h"

#include <gtest/gtest.h>

#include "codegen/emit/link.h"
#include "codegen/emit/stack.h"

namespace nfbpf::codegen::emit {
namespace {

TEST(EmitProgram, ForwardLabelIsPatchedWhenBound) {
  Program p("t");
  Label out(p);
  p.jmp(Cond::kEq, Reg::R1, 5, out);  // 0
  p.mov(Reg::R0, 1);                  // 1
  p.jmp(out);                         // 2
  p.mov(Reg::R0, 2);                  // 3
  p.bind(out);                        // 4
  p.exit();
  EXPECT_EQ(p.insns()[0].off, 3);
  EXPECT_EQ(p.insns()[2].off, 1);
  EXPECT_TRUE(p.check().has_value());
}

TEST(EmitProgram, ReferencedCountsJumpsOfEveryKind) {
  Program p("t");
  Label a(p), b(p), c(p);
  EXPECT_FALSE(a.referenced());
  p.jmp32(Cond::kEq, Reg::R1, 1, a);
  p.bind(b);
  p.jmp(Cond::kNe, Reg::R1, 2, b);  // backward
  EXPECT_TRUE(a.referenced());
  EXPECT_TRUE(b.referenced());
  EXPECT_FALSE(c.referenced());
  p.bind(a);
  p.ret(0);
}

TEST(EmitProgram, BackwardJumpResolvesAtOnce) {
  Program p("t");
  Label top(p);
  p.bind(top);                          // 0
  p.alu(AluOp::kSub, Reg::R1, 1);       // 0
  p.jmp(Cond::kNe, Reg::R1, 0, top);    // 1 -> 0: off -2
  p.ret(0);
  EXPECT_EQ(p.insns()[1].off, -2);
  EXPECT_TRUE(p.check().has_value());
}

TEST(EmitProgram, JumpPatchBindsAtEndOfScope) {
  Program p("t");
  {
    auto skip = p.jmp_fwd(Cond::kGt, Reg::R1, Reg::R2);  // 0
    p.mov(Reg::R0, 7);                                   // 1
    p.mov(Reg::R0, 8);                                   // 2
  }
  p.ret(1);  // 3
  EXPECT_EQ(p.insns()[0].off, 2);
  EXPECT_EQ(p.insns()[0].code, BPF_JMP | BPF_JGT | BPF_X);
  EXPECT_TRUE(p.check().has_value());
}

TEST(EmitProgram, CheckReportsPendingJumps) {
  Program p("t");
  auto l = std::make_unique<Label>(p);
  p.jmp(*l);
  p.ret(0);
  auto r = p.check();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("unbound"), std::string::npos);
  p.bind(*l);  // leave it consistent for the destructor
  p.ret(0);
  EXPECT_TRUE(p.check().has_value());
}

TEST(EmitProgram, CheckWantsFinalExit) {
  Program p("t");
  p.mov(Reg::R0, 0);
  EXPECT_FALSE(p.check().has_value());
}

TEST(EmitProgram, OversizedJumpIsAnError) {
  Program p("t");
  Label far(p);
  p.jmp(far);
  for (int i = 0; i < 40000; ++i) p.mov(Reg::R0, 0);
  p.bind(far);
  p.ret(0);
  auto r = p.check();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().msg.find("16-bit"), std::string::npos);
}

TEST(EmitProgram, NegateIsAnInvolution) {
  for (Cond c : {Cond::kEq, Cond::kNe, Cond::kGt, Cond::kGe, Cond::kLt, Cond::kLe, Cond::kSgt,
                 Cond::kSge, Cond::kSlt, Cond::kSle}) {
    auto n = negate(c);
    ASSERT_TRUE(n.has_value());
    EXPECT_NE(*n, c);
    EXPECT_EQ(negate(*n), c);
  }
  EXPECT_FALSE(negate(Cond::kSet).has_value());
}

TEST(EmitProgram, MapsAreDeclaredOnceByName) {
  Program p("t");
  MapRef a = p.map("counters");
  MapRef b = p.map("set1");
  MapRef c = p.map("counters");
  EXPECT_EQ(a.id, c.id);
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(p.map_names().size(), 2u);
}

TEST(EmitLink, AppliesMapAndKfuncFixups) {
  Program p("t");
  p.ld_map_fd(Reg::R1, p.map("counters"));  // 0, 1
  p.call_kfunc(Kfunc::kDynptrSlice);        // 2
  p.ld_map_fd(Reg::R2, p.map("other"));     // 3, 4
  p.ret(0);
  Resolver r;
  r.map_fd = [](std::string_view n) -> Result<int> { return n == "counters" ? 7 : 9; };
  r.kfunc_btf_id = [](Kfunc k) -> Result<int32_t> { return k == Kfunc::kDynptrSlice ? 4242 : -1; };
  auto img = link(p, r);
  ASSERT_TRUE(img.has_value()) << img.error().describe();
  EXPECT_EQ((*img)[0].imm, 7);
  EXPECT_EQ((*img)[0].src_reg, BPF_PSEUDO_MAP_FD);
  EXPECT_EQ((*img)[2].imm, 4242);
  EXPECT_EQ((*img)[2].src_reg, BPF_PSEUDO_KFUNC_CALL);
  EXPECT_EQ((*img)[3].imm, 9);
  // The Program itself keeps its holes (it can be linked again against other maps).
  EXPECT_EQ(p.insns()[0].imm, 0);
}

TEST(EmitLink, UnknownMapFails) {
  Program p("t");
  p.ld_map_fd(Reg::R1, p.map("nosuch"));
  p.ret(0);
  Resolver r;
  r.map_fd = [](std::string_view n) -> Result<int> { return failf(ENOENT, "no map {}", n); };
  auto img = link(p, r);
  ASSERT_FALSE(img.has_value());
  EXPECT_EQ(img.error().err, ENOENT);
}

TEST(EmitStack, AllocatesAlignedBelowTheReservedArea) {
  StackAlloc s;
  auto a = s.alloc(4, 4);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, kFreeStackTop - 4);
  auto b = s.alloc(16);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b % 8, 0);
  EXPECT_LE(*b + 16, *a);
  int16_t m = s.mark();
  ASSERT_TRUE(s.alloc(100).has_value());
  s.release_to(m);
  EXPECT_EQ(s.mark(), *b);
  EXPECT_EQ(s.alloc(512).error().err, ENOSPC);
}

}  // namespace
}  // namespace nfbpf::codegen::emit
