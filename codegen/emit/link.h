#pragma once
// Linking: turns a Program's typed fixups into a loadable image (map fds into ld_imm64
// instructions, BTF ids into kfunc calls). Kept separate from loading so FakeKernel tests and the
// disassembler never need real fds.

#include <linux/bpf.h>

#include <functional>
#include <string_view>
#include <vector>

#include "codegen/emit/program.h"
#include "common/result.h"

namespace nfbpf::codegen::emit {

struct Resolver {
  std::function<Result<int>(std::string_view map_name)> map_fd;
  std::function<Result<int32_t>(Kfunc)> kfunc_btf_id;
  std::function<Result<uint32_t>(KernelField)> field_offset;
  std::function<Result<int32_t>(KernelType)> type_id;
};

// The image with every fixup applied; fails if the program does not check() or a name is unknown.
Result<std::vector<bpf_insn>> link(const Program& p, const Resolver& r);

}  // namespace nfbpf::codegen::emit
