#pragma once
// Loading an emitted Program: link its fixups (map fds by name, kfunc BTF ids from the Kernel)
// and load the image.

#include <map>
#include <string>

#include "codegen/emit/program.h"
#include "codegen/kernel/objects.h"

namespace nfbpf::codegen::kernel {

// The maps a program refers to, by the names it declared with Program::map().
using MapBindings = std::map<std::string, const Map*, std::less<>>;

struct LoadOptions {
  bpf_prog_type type = BPF_PROG_TYPE_UNSPEC;
  bpf_attach_type expected_attach_type = static_cast<bpf_attach_type>(0);
  uint32_t log_level = 0;
  std::string* log_out = nullptr;
};

Result<Prog> load_program(Kernel& k, const emit::Program& p, const LoadOptions& opts,
                          const MapBindings& maps = {});

}  // namespace nfbpf::codegen::kernel
