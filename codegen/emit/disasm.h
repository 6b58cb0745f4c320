#pragma once
// Our own deterministic BPF disassembler, for golden tests and debugging. One line per
// instruction, "<pc>: <text>\n", jump targets as absolute pcs ("goto 12"), map references and
// kfunc calls by name when the Program's fixups say what they are:
//
//     0: r6 = r1
//     1: r1 = *(u64 *)(r6 + 8)
//     2: r1 = map_fd(counters) ll
//     4: call kfunc bpf_dynptr_from_skb
//     5: if w0 != 0 goto 9
//     6: lock *(u64 *)(r0 + 0) += r1
//
// Immediates in [-1024, 1024] print in decimal, others in hex (as the u32/u64 bit pattern).

#include <linux/bpf.h>

#include <span>
#include <string>

#include "codegen/emit/program.h"

namespace nfbpf::codegen::emit {

std::string disassemble(const Program& p);
std::string disassemble(std::span<const bpf_insn> insns);

}  // namespace nfbpf::codegen::emit
