#pragma once
// Loading an emitted program for a flavor: the flavor decides prog type and expected attach type.

#include "codegen/flavor/flavor.h"
#include "codegen/kernel/loader.h"

namespace nfbpf::codegen::flavor {

inline kernel::LoadOptions load_options(const FlavorOps& f) {
  return kernel::LoadOptions{.type = f.prog_type, .expected_attach_type = f.expected_attach_type};
}

inline Result<kernel::Prog> load(kernel::Kernel& k, Flavor f, const emit::Program& p,
                                 const kernel::MapBindings& maps = {}) {
  return kernel::load_program(k, p, load_options(flavor_ops(f)), maps);
}

}  // namespace nfbpf::codegen::flavor
