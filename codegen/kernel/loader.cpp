#include "codegen/kernel/loader.h"

#include <linux/btf.h>

#include "codegen/emit/link.h"

namespace nfbpf::codegen::kernel {

Result<Prog> load_program(Kernel& k, const emit::Program& p, const LoadOptions& opts,
                          const MapBindings& maps) {
  emit::Resolver r;
  r.map_fd = [&](std::string_view name) -> Result<int> {
    auto it = maps.find(name);
    if (it == maps.end() || !it->second) return failf(ENOENT, "no map bound to name {}", name);
    return it->second->fd();
  };
  r.kfunc_btf_id = [&](emit::Kfunc f) { return k.kfunc_btf_id(emit::kfunc_name(f)); };
  r.field_offset = [&](emit::KernelField f) {
    const auto& n = emit::kernel_field_name(f);
    return k.btf_member_offset(n.type, n.member);
  };
  r.type_id = [&](emit::KernelType t) { return k.btf_type_id(emit::kernel_type_name(t), BTF_KIND_STRUCT); };
  auto image = emit::link(p, r);
  if (!image) return std::unexpected(std::move(image).error());
  ProgSpec spec;
  spec.type = opts.type;
  spec.expected_attach_type = opts.expected_attach_type;
  spec.name = p.name();
  spec.insns = *image;
  spec.log_level = opts.log_level;
  spec.log_out = opts.log_out;
  return Prog::load(k, spec);
}

}  // namespace nfbpf::codegen::kernel
