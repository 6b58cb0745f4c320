#pragma once
// The instruction emitter: a growing vector of struct bpf_insn with typed helpers, scoped labels
// and typed fixups. Nothing here touches the kernel; kernel::load_program() links the fixups
// (map fds, kfunc BTF ids) and loads the result.
//
// Usage:
//   Program p("chain");
//   MapRef counters = p.map("counters");        // resolved to an fd at load time
//   Label drop(p);
//   p.jmp(Cond::kEq, Reg::R1, 0x0a000001, drop); // forward jump, patched by bind()
//   ...
//   p.bind(drop);
//   p.ret(0);
//   NFBPF_TRYV(p.check());                      // every referenced label bound, offsets in range
//
// Branches go only through Label (any number of jumps, bound once) or JumpPatch (one forward
// jump, bound when the JumpPatch leaves scope). Never compute jump offsets by hand.

#include <linux/bpf.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codegen/emit/kernel_field.h"
#include "codegen/emit/kfunc.h"
#include "codegen/emit/regs.h"
#include "common/result.h"

namespace nfbpf::codegen::emit {

enum class Size : uint8_t { kB, kH, kW, kDW };  // 1, 2, 4, 8 bytes

enum class AluOp : uint8_t {
  kAdd, kSub, kMul, kDiv, kOr, kAnd, kLsh, kRsh, kMod, kXor, kArsh,
};

// Jump conditions; kGt..kLe are unsigned, kSgt..kSle signed, kSet is "dst & src != 0".
enum class Cond : uint8_t { kEq, kNe, kGt, kGe, kLt, kLe, kSgt, kSge, kSlt, kSle, kSet };

// Negation of a condition (for "skip if not equal" style code): kSet has none.
std::optional<Cond> negate(Cond c);

// A map referenced by the program, by name; resolved to an fd when the program is linked.
struct MapRef {
  uint32_t id = 0;  // index into Program::map_names()
};

enum class FixupKind : uint8_t { kMapFd, kKfunc, kKernelField, kKernelType };

// A typed hole in the image: `insn` is patched at link time (ld_imm64 imm = map fd, a kfunc
// call's imm = BTF id, or a load's off += the BTF offset of a kernel field). `key` is a
// MapRef::id, a Kfunc or a KernelField value.
struct Fixup {
  FixupKind kind;
  uint32_t insn;
  uint32_t key;
};

class Program;

// A jump target. Jumps to an unbound label are recorded and patched when the label is bound;
// jumps to a bound label (backwards) are resolved at once. Bind exactly once. The destructor
// asserts that a label someone jumped to was bound.
class Label {
 public:
  explicit Label(Program& p) : prog_(&p) {}
  Label(const Label&) = delete;
  Label& operator=(const Label&) = delete;
  Label(Label&& o) noexcept;
  Label& operator=(Label&&) = delete;
  ~Label();

  bool bound() const { return pos_.has_value(); }
  uint32_t pos() const { return *pos_; }
  // Whether any jump targets this label. The verifier refuses unreachable instructions, so code
  // reached only through a label nobody jumped to must not be emitted:
  //   if (fail.referenced()) { p.bind(fail); p.ret(policy); }
  bool referenced() const { return refs_ > 0; }

 private:
  friend class Program;
  Program* prog_;
  std::optional<uint32_t> pos_;
  std::vector<uint32_t> pending_;  // jump instructions waiting for pos_
  uint32_t refs_ = 0;
};

// One forward jump patched to the position where the JumpPatch goes out of scope (or where
// bind_here() is called first). Use for "if the test fails, skip the rest of this block".
class [[nodiscard]] JumpPatch {
 public:
  JumpPatch(Program& p, uint32_t insn) : prog_(&p), insn_(insn) {}
  JumpPatch(const JumpPatch&) = delete;
  JumpPatch& operator=(const JumpPatch&) = delete;
  JumpPatch(JumpPatch&& o) noexcept : prog_(std::exchange(o.prog_, nullptr)), insn_(o.insn_) {}
  JumpPatch& operator=(JumpPatch&&) = delete;
  ~JumpPatch() { bind_here(); }
  void bind_here();

 private:
  Program* prog_;
  uint32_t insn_;
};

class Program {
 public:
  explicit Program(std::string name = "nfbpf") : name_(std::move(name)) {}
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  Program(Program&&) = default;
  Program& operator=(Program&&) = default;

  const std::string& name() const { return name_; }
  uint32_t pc() const { return static_cast<uint32_t>(insns_.size()); }
  const std::vector<bpf_insn>& insns() const { return insns_; }
  const std::vector<Fixup>& fixups() const { return fixups_; }
  const std::vector<std::string>& map_names() const { return map_names_; }

  // Declares (or finds) a map used by this program.
  MapRef map(std::string_view name);

  // --- ALU (64-bit unless the name says 32; 32-bit ops zero the upper half of dst) ---
  void mov(Reg dst, Reg src);
  void mov(Reg dst, int32_t imm);  // sign-extended to 64 bits
  void mov32(Reg dst, Reg src);
  void mov32(Reg dst, int32_t imm);
  void alu(AluOp op, Reg dst, Reg src);
  void alu(AluOp op, Reg dst, int32_t imm);
  void alu32(AluOp op, Reg dst, Reg src);
  void alu32(AluOp op, Reg dst, int32_t imm);
  void neg(Reg dst);
  // Byte order conversion of the low `bits` (16, 32, 64) bits: network <-> host on x86.
  void to_be(Reg dst, int bits);

  // --- loads and stores ---
  void ld_imm64(Reg dst, uint64_t imm);
  void ld_map_fd(Reg dst, MapRef map);  // dst = map (BPF_PSEUDO_MAP_FD), fixed up at link time
  // dst = &value[0] + off of an ARRAY map's element 0 (BPF_PSEUDO_MAP_VALUE): direct access
  // without a lookup call (not for per-CPU maps).
  void ld_map_value(Reg dst, MapRef map, uint32_t off);
  void ldx(Size sz, Reg dst, Reg src, int16_t off);  // dst = *(sz *)(src + off)
  void stx(Size sz, Reg dst, int16_t off, Reg src);  // *(sz *)(dst + off) = src
  void st(Size sz, Reg dst, int16_t off, int32_t imm);
  void atomic_add(Size sz, Reg dst, int16_t off, Reg src);  // sz = kW or kDW
  // dst = *(sz *)(src + offsetof(field) + extra), src being a BTF pointer to the field's struct;
  // the offset is resolved from vmlinux BTF at link time.
  void ldx_field(Size sz, Reg dst, Reg src, KernelField field, int16_t extra = 0);
  // dst = the vmlinux BTF id of a kernel struct (a fixup, like ldx_field): bpf_rdonly_cast's argument.
  void mov_btf_type(Reg dst, KernelType type);

  // --- calls and exit ---
  void call_helper(int32_t func_id);  // enum bpf_func_id
  void call_kfunc(Kfunc k);           // BTF id fixed up at link time
  void exit();
  void ret(int32_t verdict) { mov(kRet, verdict); exit(); }
  // bpf-to-bpf call of a subprogram starting at `target` (a Label bound at its first insn). Use
  // subprograms to keep verifier state small for long chains; each has its own 512-byte frame
  // and sees r1-r5 as arguments, returns r0, preserves r6-r9 of the caller. Subprograms are
  // emitted after the main program (jumps may not cross a subprogram boundary; the verifier
  // refuses "jump out of range").
  void call_local(Label& target);

  // --- jumps ---
  void jmp(Label& target);
  void jmp(Cond c, Reg dst, int32_t imm, Label& target);
  void jmp(Cond c, Reg dst, Reg src, Label& target);
  void jmp32(Cond c, Reg dst, int32_t imm, Label& target);
  void jmp32(Cond c, Reg dst, Reg src, Label& target);
  // Unconditional jump with a 32-bit offset (gotol, cpu v4), for targets more than 32K insns away.
  // Conditional jumps have 16-bit offsets only: "if !cond goto +1; jmp_long(far)".
  void jmp_long(Label& target);
  // Conditional jump with no distance limit: "if !cond goto +1; gotol target" (kSet, which has no
  // negation, takes one more insn). For exits from huge programs (e.g. the short-packet path).
  void jmp_far(Cond c, Reg dst, int32_t imm, Label& target);
  void jmp_far(Cond c, Reg dst, Reg src, Label& target);
  // Forward jumps whose target is the end of the returned JumpPatch's scope.
  JumpPatch jmp_fwd();
  JumpPatch jmp_fwd(Cond c, Reg dst, int32_t imm);
  JumpPatch jmp_fwd(Cond c, Reg dst, Reg src);

  void bind(Label& l);

  // Appends a raw instruction (escape hatch; prefer the typed helpers).
  void raw(const bpf_insn& insn) { insns_.push_back(insn); }

  // OK if every label that was jumped to is bound and every offset fit; the first problem otherwise.
  Result<void> check() const;

 private:
  friend class Label;
  friend class JumpPatch;
  void jump_insn(uint8_t cls, Cond c, bool use_src, Reg dst, Reg src, int32_t imm, Label& target);
  void refer(uint32_t insn, Label& target);
  void patch(uint32_t insn, uint32_t target);
  void note_error(std::string msg);

  std::string name_;
  std::vector<bpf_insn> insns_;
  std::vector<Fixup> fixups_;
  std::vector<std::string> map_names_;
  std::vector<std::string> errors_;
  uint32_t unbound_labels_ = 0;  // labels destroyed unbound while referenced (also asserted)
};

}  // namespace nfbpf::codegen::emit
