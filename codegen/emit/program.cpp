#include "codegen/emit/program.h"

#include <array>
#include <cassert>
#include <limits>

#include <fmt/format.h>

namespace nfbpf::codegen::emit {
namespace {

constexpr std::array<uint8_t, 4> kSizeCode = {BPF_B, BPF_H, BPF_W, BPF_DW};
constexpr std::array<uint8_t, 11> kAluCode = {BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND,
                                              BPF_LSH, BPF_RSH, BPF_MOD, BPF_XOR, BPF_ARSH};
constexpr std::array<uint8_t, 11> kCondCode = {BPF_JEQ, BPF_JNE,  BPF_JGT,  BPF_JGE,
                                               BPF_JLT, BPF_JLE,  BPF_JSGT, BPF_JSGE,
                                               BPF_JSLT, BPF_JSLE, BPF_JSET};
static_assert(kAluCode.size() == static_cast<size_t>(AluOp::kArsh) + 1);
static_assert(kCondCode.size() == static_cast<size_t>(Cond::kSet) + 1);

uint8_t size_code(Size s) { return kSizeCode[static_cast<size_t>(s)]; }
uint8_t alu_code(AluOp o) { return kAluCode[static_cast<size_t>(o)]; }
uint8_t cond_code(Cond c) { return kCondCode[static_cast<size_t>(c)]; }

bpf_insn make(uint8_t code, Reg dst, Reg src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = reg_num(dst);
  i.src_reg = reg_num(src);
  i.off = off;
  i.imm = imm;
  return i;
}

}  // namespace

std::optional<Cond> negate(Cond c) {
  switch (c) {
    case Cond::kEq: return Cond::kNe;
    case Cond::kNe: return Cond::kEq;
    case Cond::kGt: return Cond::kLe;
    case Cond::kGe: return Cond::kLt;
    case Cond::kLt: return Cond::kGe;
    case Cond::kLe: return Cond::kGt;
    case Cond::kSgt: return Cond::kSle;
    case Cond::kSge: return Cond::kSlt;
    case Cond::kSlt: return Cond::kSge;
    case Cond::kSle: return Cond::kSgt;
    case Cond::kSet: return std::nullopt;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------- labels

Label::Label(Label&& o) noexcept
    : prog_(o.prog_), pos_(o.pos_), pending_(std::move(o.pending_)), refs_(o.refs_) {
  o.pending_.clear();
  o.pos_ = 0;  // the moved-from label is inert
}

Label::~Label() {
  if (!pos_ && !pending_.empty()) {
    // A bug in the emitter: a jump to nowhere. check() reports it too, for release builds.
    prog_->note_error(fmt::format("label destroyed unbound with {} pending jump(s)", pending_.size()));
    assert(false && "Label destroyed unbound while jumped to");
  }
}

void JumpPatch::bind_here() {
  if (!prog_) return;
  prog_->patch(insn_, prog_->pc());
  --prog_->unbound_labels_;
  prog_ = nullptr;
}

// --------------------------------------------------------------------------------------- program

MapRef Program::map(std::string_view name) {
  for (uint32_t i = 0; i < map_names_.size(); ++i)
    if (map_names_[i] == name) return MapRef{i};
  map_names_.emplace_back(name);
  return MapRef{static_cast<uint32_t>(map_names_.size() - 1)};
}

void Program::mov(Reg dst, Reg src) { raw(make(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)); }
void Program::mov(Reg dst, int32_t imm) { raw(make(BPF_ALU64 | BPF_MOV | BPF_K, dst, Reg::R0, 0, imm)); }
void Program::mov32(Reg dst, Reg src) { raw(make(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)); }
void Program::mov32(Reg dst, int32_t imm) { raw(make(BPF_ALU | BPF_MOV | BPF_K, dst, Reg::R0, 0, imm)); }

void Program::alu(AluOp op, Reg dst, Reg src) {
  raw(make(BPF_ALU64 | alu_code(op) | BPF_X, dst, src, 0, 0));
}
void Program::alu(AluOp op, Reg dst, int32_t imm) {
  raw(make(BPF_ALU64 | alu_code(op) | BPF_K, dst, Reg::R0, 0, imm));
}
void Program::alu32(AluOp op, Reg dst, Reg src) {
  raw(make(BPF_ALU | alu_code(op) | BPF_X, dst, src, 0, 0));
}
void Program::alu32(AluOp op, Reg dst, int32_t imm) {
  raw(make(BPF_ALU | alu_code(op) | BPF_K, dst, Reg::R0, 0, imm));
}
void Program::neg(Reg dst) { raw(make(BPF_ALU64 | BPF_NEG, dst, Reg::R0, 0, 0)); }

void Program::to_be(Reg dst, int bits) {
  assert(bits == 16 || bits == 32 || bits == 64);
  raw(make(BPF_ALU | BPF_END | BPF_TO_BE, dst, Reg::R0, 0, bits));
}

void Program::ld_imm64(Reg dst, uint64_t imm) {
  raw(make(BPF_LD | BPF_DW | BPF_IMM, dst, Reg::R0, 0, static_cast<int32_t>(imm & 0xffffffffu)));
  raw(make(0, Reg::R0, Reg::R0, 0, static_cast<int32_t>(imm >> 32)));
}

void Program::ld_map_fd(Reg dst, MapRef map) {
  assert(map.id < map_names_.size());
  fixups_.push_back(Fixup{FixupKind::kMapFd, pc(), map.id});
  bpf_insn first = make(BPF_LD | BPF_DW | BPF_IMM, dst, Reg::R0, 0, 0);
  first.src_reg = BPF_PSEUDO_MAP_FD;
  raw(first);
  raw(make(0, Reg::R0, Reg::R0, 0, 0));
}

void Program::ld_map_value(Reg dst, MapRef map, uint32_t off) {
  assert(map.id < map_names_.size());
  fixups_.push_back(Fixup{FixupKind::kMapFd, pc(), map.id});
  bpf_insn first = make(BPF_LD | BPF_DW | BPF_IMM, dst, Reg::R0, 0, 0);
  first.src_reg = BPF_PSEUDO_MAP_VALUE;
  raw(first);
  raw(make(0, Reg::R0, Reg::R0, 0, static_cast<int32_t>(off)));
}

void Program::ldx(Size sz, Reg dst, Reg src, int16_t off) {
  raw(make(BPF_LDX | size_code(sz) | BPF_MEM, dst, src, off, 0));
}
void Program::ldx_field(Size sz, Reg dst, Reg src, KernelField field, int16_t extra) {
  fixups_.push_back(Fixup{FixupKind::kKernelField, pc(), static_cast<uint32_t>(field)});
  raw(make(BPF_LDX | size_code(sz) | BPF_MEM, dst, src, extra, 0));
}

void Program::mov_btf_type(Reg dst, KernelType type) {
  fixups_.push_back(Fixup{FixupKind::kKernelType, pc(), static_cast<uint32_t>(type)});
  raw(make(BPF_ALU64 | BPF_MOV | BPF_K, dst, Reg::R0, 0, 0));
}

void Program::stx(Size sz, Reg dst, int16_t off, Reg src) {
  raw(make(BPF_STX | size_code(sz) | BPF_MEM, dst, src, off, 0));
}
void Program::st(Size sz, Reg dst, int16_t off, int32_t imm) {
  raw(make(BPF_ST | size_code(sz) | BPF_MEM, dst, Reg::R0, off, imm));
}
void Program::atomic_add(Size sz, Reg dst, int16_t off, Reg src) {
  assert(sz == Size::kW || sz == Size::kDW);
  raw(make(BPF_STX | size_code(sz) | BPF_ATOMIC, dst, src, off, BPF_ADD));
}

void Program::call_helper(int32_t func_id) { raw(make(BPF_JMP | BPF_CALL, Reg::R0, Reg::R0, 0, func_id)); }

void Program::call_kfunc(Kfunc k) {
  fixups_.push_back(Fixup{FixupKind::kKfunc, pc(), static_cast<uint32_t>(k)});
  bpf_insn i = make(BPF_JMP | BPF_CALL, Reg::R0, Reg::R0, 0, 0);
  i.src_reg = BPF_PSEUDO_KFUNC_CALL;
  raw(i);
}

void Program::exit() { raw(make(BPF_JMP | BPF_EXIT, Reg::R0, Reg::R0, 0, 0)); }

void Program::jump_insn(uint8_t cls, Cond c, bool use_src, Reg dst, Reg src, int32_t imm,
                        Label& target) {
  assert(target.prog_ == this);
  uint8_t code = cls | cond_code(c) | (use_src ? BPF_X : BPF_K);
  uint32_t at = pc();
  raw(make(code, dst, use_src ? src : Reg::R0, 0, imm));
  refer(at, target);
}

void Program::refer(uint32_t at, Label& target) {
  assert(target.prog_ == this);
  ++target.refs_;
  if (target.bound()) {
    patch(at, target.pos());
  } else {
    target.pending_.push_back(at);
    ++unbound_labels_;
  }
}

void Program::jmp(Label& target) {
  uint32_t at = pc();
  raw(make(BPF_JMP | BPF_JA, Reg::R0, Reg::R0, 0, 0));
  refer(at, target);
}

void Program::jmp_long(Label& target) {
  uint32_t at = pc();
  raw(make(BPF_JMP32 | BPF_JA, Reg::R0, Reg::R0, 0, 0));
  refer(at, target);
}

void Program::jmp_far(Cond c, Reg dst, int32_t imm, Label& target) {
  if (auto n = negate(c)) {
    raw(make(BPF_JMP | cond_code(*n) | BPF_K, dst, Reg::R0, 1, imm));
  } else {
    raw(make(BPF_JMP | cond_code(c) | BPF_K, dst, Reg::R0, 1, imm));  // set: skip the skip
    raw(make(BPF_JMP | BPF_JA, Reg::R0, Reg::R0, 1, 0));
  }
  jmp_long(target);
}

void Program::jmp_far(Cond c, Reg dst, Reg src, Label& target) {
  if (auto n = negate(c)) {
    raw(make(BPF_JMP | cond_code(*n) | BPF_X, dst, src, 1, 0));
  } else {
    raw(make(BPF_JMP | cond_code(c) | BPF_X, dst, src, 1, 0));
    raw(make(BPF_JMP | BPF_JA, Reg::R0, Reg::R0, 1, 0));
  }
  jmp_long(target);
}

void Program::call_local(Label& target) {
  uint32_t at = pc();
  bpf_insn i = make(BPF_JMP | BPF_CALL, Reg::R0, Reg::R0, 0, 0);
  i.src_reg = BPF_PSEUDO_CALL;
  raw(i);
  refer(at, target);
}
void Program::jmp(Cond c, Reg dst, int32_t imm, Label& t) { jump_insn(BPF_JMP, c, false, dst, Reg::R0, imm, t); }
void Program::jmp(Cond c, Reg dst, Reg src, Label& t) { jump_insn(BPF_JMP, c, true, dst, src, 0, t); }
void Program::jmp32(Cond c, Reg dst, int32_t imm, Label& t) { jump_insn(BPF_JMP32, c, false, dst, Reg::R0, imm, t); }
void Program::jmp32(Cond c, Reg dst, Reg src, Label& t) { jump_insn(BPF_JMP32, c, true, dst, src, 0, t); }

JumpPatch Program::jmp_fwd() {
  uint32_t at = pc();
  raw(make(BPF_JMP | BPF_JA, Reg::R0, Reg::R0, 0, 0));
  ++unbound_labels_;
  return JumpPatch(*this, at);
}
JumpPatch Program::jmp_fwd(Cond c, Reg dst, int32_t imm) {
  uint32_t at = pc();
  raw(make(BPF_JMP | cond_code(c) | BPF_K, dst, Reg::R0, 0, imm));
  ++unbound_labels_;
  return JumpPatch(*this, at);
}
JumpPatch Program::jmp_fwd(Cond c, Reg dst, Reg src) {
  uint32_t at = pc();
  raw(make(BPF_JMP | cond_code(c) | BPF_X, dst, src, 0, 0));
  ++unbound_labels_;
  return JumpPatch(*this, at);
}

void Program::bind(Label& l) {
  assert(l.prog_ == this);
  if (l.bound()) {
    note_error(fmt::format("label bound twice (at {} and {})", l.pos(), pc()));
    assert(false && "Label bound twice");
    return;
  }
  l.pos_ = pc();
  for (uint32_t at : l.pending_) {
    patch(at, pc());
    --unbound_labels_;
  }
  l.pending_.clear();
}

void Program::patch(uint32_t insn, uint32_t target) {
  int64_t off = static_cast<int64_t>(target) - static_cast<int64_t>(insn) - 1;
  bpf_insn& i = insns_[insn];
  // Calls to subprograms and gotol keep their offset in imm (32 bits); other jumps in off.
  bool wide = (i.code == (BPF_JMP | BPF_CALL) && i.src_reg == BPF_PSEUDO_CALL) ||
              i.code == (BPF_JMP32 | BPF_JA);
  if (wide) {
    i.imm = static_cast<int32_t>(off);
    return;
  }
  if (off < std::numeric_limits<int16_t>::min() || off > std::numeric_limits<int16_t>::max()) {
    note_error(fmt::format("jump at {} to {} does not fit a 16-bit offset", insn, target));
    return;
  }
  i.off = static_cast<int16_t>(off);
}

void Program::note_error(std::string msg) { errors_.push_back(std::move(msg)); }

Result<void> Program::check() const {
  if (!errors_.empty()) return failf(EINVAL, "program {}: {}", name_, errors_.front());
  if (unbound_labels_ != 0)
    return failf(EINVAL, "program {}: {} jump(s) to unbound labels", name_, unbound_labels_);
  if (insns_.empty() || insns_.back().code != (BPF_JMP | BPF_EXIT)) {
    // The verifier would say "last insn is not an exit or jmp"; say it earlier and clearer.
    bool ends_in_jump = !insns_.empty() && (insns_.back().code & 0x07) == BPF_JMP;
    if (!ends_in_jump) return failf(EINVAL, "program {} does not end with exit", name_);
  }
  return {};
}

}  // namespace nfbpf::codegen::emit
