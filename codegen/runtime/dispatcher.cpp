#include "codegen/runtime/dispatcher.h"

#include <unistd.h>

#include "codegen/flavor/load.h"

namespace nfbpf::codegen::runtime {

using emit::Reg;

emit::Program make_dispatcher_program(std::string name, int32_t default_verdict) {
  emit::Program p(std::move(name));
  emit::MapRef array = p.map("prog_array");
  p.ld_map_fd(Reg::R2, array);
  p.mov(Reg::R3, 0);  // constant index: the verifier turns it into a direct jump (~1 ns)
  p.call_helper(BPF_FUNC_tail_call);
  p.ret(default_verdict);
  return p;
}

Result<Dispatcher> Dispatcher::create(kernel::Kernel& k, flavor::Flavor f, int32_t default_verdict,
                                      std::string name) {
  const flavor::FlavorOps& ops = flavor::flavor_ops(f);
  kernel::MapSpec spec{.type = BPF_MAP_TYPE_PROG_ARRAY, .key_size = 4, .value_size = 4,
                       .max_entries = 1, .flags = 0, .name = name + "_pa"};
  auto array = kernel::Map::create(k, spec);
  if (!array) return std::unexpected(std::move(array).error().with_context("creating dispatcher " + name));
  emit::Program p = make_dispatcher_program(name, default_verdict);
  auto prog = kernel::load_program(k, p, flavor::load_options(ops), {{"prog_array", &*array}});
  if (!prog) return std::unexpected(std::move(prog).error().with_context("creating dispatcher " + name));
  return Dispatcher(k, f, std::move(*array), std::move(*prog));
}

Result<void> Dispatcher::attach(const flavor::AttachPoint& at) {
  if (at.flavor != flavor_) return fail(EINVAL, "attach point of another flavor");
  if (link_) return fail(EBUSY, "dispatcher already attached");
  auto spec = flavor::link_spec(at);
  if (!spec) return std::unexpected(std::move(spec).error());
  auto link = kernel::Link::create(*kernel_, prog_, *spec);
  if (!link) return std::unexpected(std::move(link).error());
  link_.emplace(std::move(*link));
  return {};
}

Result<void> Dispatcher::pin(const std::string& prefix) {
  if (!link_) return fail(EINVAL, "pinning a dispatcher that is not attached");
  NFBPF_TRYV(prog_array_.pin(prefix + "_array"));
  NFBPF_TRYV(prog_.pin(prefix + "_prog"));
  return link_->pin(prefix + "_link");
}

Result<Dispatcher> Dispatcher::adopt(kernel::Kernel& k, flavor::Flavor f, const std::string& prefix, std::string name) {
  kernel::MapSpec spec{.type = BPF_MAP_TYPE_PROG_ARRAY, .key_size = 4, .value_size = 4,
                       .max_entries = 1, .flags = 0, .name = name + "_pa"};
  auto array = kernel::Map::open_pinned(k, prefix + "_array", spec);
  if (!array) return std::unexpected(std::move(array).error());
  const flavor::FlavorOps& ops = flavor::flavor_ops(f);
  auto prog = kernel::Prog::open_pinned(k, prefix + "_prog", name, flavor::load_options(ops).type,
                                        make_dispatcher_program(name, 0).pc());
  if (!prog) return std::unexpected(std::move(prog).error());
  auto link = kernel::Link::open_pinned(k, prefix + "_link");
  if (!link) return std::unexpected(std::move(link).error());
  Dispatcher d(k, f, std::move(*array), std::move(*prog));
  d.link_.emplace(std::move(*link));
  return d;
}

void Dispatcher::unpin(const std::string& prefix) {
  for (const char* suffix : {"_link", "_prog", "_array"}) ::unlink((prefix + suffix).c_str());
}

Result<void> Dispatcher::install(const kernel::Prog& chain) {
  uint32_t key = 0;
  uint32_t fd = static_cast<uint32_t>(chain.fd());
  auto r = prog_array_.update(&key, &fd, BPF_ANY);
  if (!r) return std::unexpected(std::move(r).error().with_context("installing " + chain.name()));
  return {};
}

Result<void> Dispatcher::clear() {
  uint32_t key = 0;
  auto r = prog_array_.remove(&key);
  if (!r && r.error().err != ENOENT) return r;
  return {};
}

}  // namespace nfbpf::codegen::runtime
