#include "codegen/emit/link.h"

#include <cstdint>

namespace nfbpf::codegen::emit {

Result<std::vector<bpf_insn>> link(const Program& p, const Resolver& r) {
  if (auto ok = p.check(); !ok) return std::unexpected(std::move(ok).error());
  std::vector<bpf_insn> image = p.insns();
  for (const Fixup& f : p.fixups()) {
    switch (f.kind) {
      case FixupKind::kMapFd: {
        const std::string& name = p.map_names().at(f.key);
        if (!r.map_fd) return failf(EINVAL, "program {} uses map {} but no maps were given", p.name(), name);
        auto fd = r.map_fd(name);
        if (!fd) return std::unexpected(std::move(fd).error().with_context("linking program " + p.name()));
        image.at(f.insn).imm = *fd;
        break;
      }
      case FixupKind::kKfunc: {
        auto k = static_cast<Kfunc>(f.key);
        if (!r.kfunc_btf_id) return failf(EINVAL, "program {} calls kfunc {} but no BTF was given", p.name(), kfunc_name(k));
        auto id = r.kfunc_btf_id(k);
        if (!id) return std::unexpected(std::move(id).error().with_context("linking program " + p.name()));
        image.at(f.insn).imm = *id;
        image.at(f.insn).off = 0;  // 0 = vmlinux BTF (no module BTF fd table)
        break;
      }
      case FixupKind::kKernelField: {
        auto field = static_cast<KernelField>(f.key);
        const auto& n = kernel_field_name(field);
        if (!r.field_offset)
          return failf(EINVAL, "program {} reads {}.{} but no BTF was given", p.name(), n.type, n.member);
        auto off = r.field_offset(field);
        if (!off) return std::unexpected(std::move(off).error().with_context("linking program " + p.name()));
        int64_t total = static_cast<int64_t>(image.at(f.insn).off) + *off;
        if (total > INT16_MAX) return failf(E2BIG, "{}.{} at offset {} is out of reach", n.type, n.member, total);
        image.at(f.insn).off = static_cast<int16_t>(total);
        break;
      }
      case FixupKind::kKernelType: {
        auto type = static_cast<KernelType>(f.key);
        if (!r.type_id) return failf(EINVAL, "program {} needs the BTF id of {} but no BTF was given", p.name(), kernel_type_name(type));
        auto id = r.type_id(type);
        if (!id) return std::unexpected(std::move(id).error().with_context("linking program " + p.name()));
        image.at(f.insn).imm = *id;
        break;
      }
    }
  }
  return image;
}

}  // namespace nfbpf::codegen::emit
