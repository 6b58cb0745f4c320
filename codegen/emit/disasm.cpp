#include "codegen/emit/disasm.h"

#include <map>

#include <fmt/format.h>

namespace nfbpf::codegen::emit {
namespace {

struct Names {
  std::map<uint32_t, std::string> at;  // insn index -> map name / kfunc name
};

std::string imm_str(int64_t v) {
  if (v >= -1024 && v <= 1024) return fmt::format("{}", v);
  return fmt::format("{:#x}", static_cast<uint32_t>(v));
}

std::string imm64_str(uint64_t v) {
  if (v <= 1024) return fmt::format("{}", v);
  return fmt::format("{:#x}", v);
}

const char* size_name(uint8_t sz) {
  switch (sz) {
    case BPF_B: return "u8";
    case BPF_H: return "u16";
    case BPF_W: return "u32";
    default: return "u64";
  }
}

const char* alu_name(uint8_t op) {
  switch (op) {
    case BPF_ADD: return "+=";
    case BPF_SUB: return "-=";
    case BPF_MUL: return "*=";
    case BPF_DIV: return "/=";
    case BPF_OR: return "|=";
    case BPF_AND: return "&=";
    case BPF_LSH: return "<<=";
    case BPF_RSH: return ">>=";
    case BPF_MOD: return "%=";
    case BPF_XOR: return "^=";
    case BPF_MOV: return "=";
    case BPF_ARSH: return "s>>=";
    default: return "?=";
  }
}

const char* cond_name(uint8_t op) {
  switch (op) {
    case BPF_JEQ: return "==";
    case BPF_JNE: return "!=";
    case BPF_JGT: return ">";
    case BPF_JGE: return ">=";
    case BPF_JLT: return "<";
    case BPF_JLE: return "<=";
    case BPF_JSGT: return "s>";
    case BPF_JSGE: return "s>=";
    case BPF_JSLT: return "s<";
    case BPF_JSLE: return "s<=";
    case BPF_JSET: return "&";
    default: return "?";
  }
}

std::string helper_name(int32_t id) {
  switch (id) {
    case BPF_FUNC_map_lookup_elem: return "bpf_map_lookup_elem";
    case BPF_FUNC_map_update_elem: return "bpf_map_update_elem";
    case BPF_FUNC_map_delete_elem: return "bpf_map_delete_elem";
    case BPF_FUNC_ktime_get_ns: return "bpf_ktime_get_ns";
    case BPF_FUNC_tail_call: return "bpf_tail_call";
    case BPF_FUNC_get_smp_processor_id: return "bpf_get_smp_processor_id";
    case BPF_FUNC_get_prandom_u32: return "bpf_get_prandom_u32";
    case BPF_FUNC_skb_load_bytes: return "bpf_skb_load_bytes";
    default: return fmt::format("helper#{}", id);
  }
}

std::string mem(uint8_t sz, uint8_t reg, int16_t off) {
  return fmt::format("*({} *)(r{} {} {})", size_name(sz), reg, off < 0 ? '-' : '+',
                     off < 0 ? -static_cast<int>(off) : off);
}

std::string one(std::span<const bpf_insn> insns, size_t pc, const Names& names, size_t* width) {
  const bpf_insn& i = insns[pc];
  *width = 1;
  uint8_t cls = i.code & 0x07;
  uint8_t op = i.code & 0xf0;
  bool x = (i.code & BPF_X) != 0;
  switch (cls) {
    case BPF_ALU64:
    case BPF_ALU: {
      char r = cls == BPF_ALU64 ? 'r' : 'w';
      if (op == BPF_NEG) return fmt::format("{}{} = -{}{}", r, i.dst_reg, r, i.dst_reg);
      if (op == BPF_END)
        return fmt::format("r{} = {}{} r{}", i.dst_reg, x ? "be" : "le", i.imm, i.dst_reg);
      if (x) return fmt::format("{}{} {} {}{}", r, i.dst_reg, alu_name(op), r, i.src_reg);
      return fmt::format("{}{} {} {}", r, i.dst_reg, alu_name(op), imm_str(i.imm));
    }
    case BPF_LD: {
      if (i.code == (BPF_LD | BPF_DW | BPF_IMM) && pc + 1 < insns.size()) {
        *width = 2;
        if (i.src_reg == BPF_PSEUDO_MAP_FD) {
          auto it = names.at.find(static_cast<uint32_t>(pc));
          if (it != names.at.end()) return fmt::format("r{} = map_fd({}) ll", i.dst_reg, it->second);
          return fmt::format("r{} = map_fd#{} ll", i.dst_reg, i.imm);
        }
        if (i.src_reg == BPF_PSEUDO_MAP_VALUE) {
          auto it = names.at.find(static_cast<uint32_t>(pc));
          std::string m = it != names.at.end() ? it->second : fmt::format("#{}", i.imm);
          return fmt::format("r{} = map_value({}) + {} ll", i.dst_reg, m, insns[pc + 1].imm);
        }
        uint64_t v = static_cast<uint32_t>(i.imm) |
                     (static_cast<uint64_t>(static_cast<uint32_t>(insns[pc + 1].imm)) << 32);
        return fmt::format("r{} = {} ll", i.dst_reg, imm64_str(v));
      }
      return fmt::format("<ld code {:#04x}>", i.code);
    }
    case BPF_LDX: {
      auto it = names.at.find(static_cast<uint32_t>(pc));
      if (it != names.at.end())  // a kernel field: "r1 = *(u32 *)(r7 + sk_buff.len + 0)"
        return fmt::format("r{} = *({} *)(r{} + {} + {})", i.dst_reg, size_name(i.code & 0x18),
                           i.src_reg, it->second, i.off);
      return fmt::format("r{} = {}", i.dst_reg, mem(i.code & 0x18, i.src_reg, i.off));
    }
    case BPF_ST:
      return fmt::format("{} = {}", mem(i.code & 0x18, i.dst_reg, i.off), imm_str(i.imm));
    case BPF_STX:
      if ((i.code & 0xe0) == BPF_ATOMIC) {
        if (i.imm == BPF_ADD)
          return fmt::format("lock {} += r{}", mem(i.code & 0x18, i.dst_reg, i.off), i.src_reg);
        return fmt::format("<atomic {:#x}>", i.imm);
      }
      return fmt::format("{} = r{}", mem(i.code & 0x18, i.dst_reg, i.off), i.src_reg);
    case BPF_JMP:
    case BPF_JMP32: {
      int64_t target = static_cast<int64_t>(pc) + 1 + i.off;
      if (op == BPF_EXIT) return "exit";
      if (op == BPF_CALL) {
        if (i.src_reg == BPF_PSEUDO_KFUNC_CALL) {
          auto it = names.at.find(static_cast<uint32_t>(pc));
          if (it != names.at.end()) return fmt::format("call kfunc {}", it->second);
          return fmt::format("call kfunc#{}", i.imm);
        }
        if (i.src_reg == BPF_PSEUDO_CALL)
          return fmt::format("call {}", static_cast<int64_t>(pc) + 1 + i.imm);
        return fmt::format("call {}", helper_name(i.imm));
      }
      if (op == BPF_JA && cls == BPF_JMP32)
        return fmt::format("gotol {}", static_cast<int64_t>(pc) + 1 + i.imm);
      if (op == BPF_JA) return fmt::format("goto {}", target);
      char r = cls == BPF_JMP ? 'r' : 'w';
      if (x)
        return fmt::format("if {}{} {} {}{} goto {}", r, i.dst_reg, cond_name(op), r, i.src_reg,
                           target);
      return fmt::format("if {}{} {} {} goto {}", r, i.dst_reg, cond_name(op), imm_str(i.imm), target);
    }
  }
  return fmt::format("<code {:#04x}>", i.code);
}

std::string run(std::span<const bpf_insn> insns, const Names& names) {
  std::string out;
  for (size_t pc = 0; pc < insns.size();) {
    size_t width = 1;
    out += fmt::format("{:4}: {}\n", pc, one(insns, pc, names, &width));
    pc += width;
  }
  return out;
}

}  // namespace

std::string disassemble(const Program& p) {
  Names names;
  for (const Fixup& f : p.fixups()) {
    switch (f.kind) {
      case FixupKind::kMapFd: names.at[f.insn] = p.map_names().at(f.key); break;
      case FixupKind::kKfunc: names.at[f.insn] = std::string(kfunc_name(static_cast<Kfunc>(f.key))); break;
      case FixupKind::kKernelField: {
        const auto& n = kernel_field_name(static_cast<KernelField>(f.key));
        names.at[f.insn] = fmt::format("{}.{}", n.type, n.member);
        break;
      }
      case FixupKind::kKernelType: break;  // shown as the placeholder immediate 0
    }
  }
  return run(p.insns(), names);
}

std::string disassemble(std::span<const bpf_insn> insns) { return run(insns, Names{}); }

}  // namespace nfbpf::codegen::emit
