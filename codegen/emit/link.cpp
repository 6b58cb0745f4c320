#include "codegen/emit/link.h"

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
    }
  }
  return image;
}

}  // namespace nfbpf::codegen::emit
