#include "codegen/kernel/objects.h"

#include <fmt/format.h>

namespace nfbpf::codegen::kernel {

bool is_percpu(bpf_map_type t) {
  return t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
         t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

Map::Map(Kernel& k, Fd fd, MapSpec spec, int cpus)
    : kernel_(&k), fd_(std::move(fd)), spec_(std::move(spec)), cpus_(cpus) {
  value_bytes_ = is_percpu(spec_.type) ? ((spec_.value_size + 7) / 8 * 8) * static_cast<size_t>(cpus_)
                                       : spec_.value_size;
}

Result<Map> Map::create(Kernel& k, MapSpec spec) {
  int cpus = 1;
  if (is_percpu(spec.type)) {
    auto n = k.possible_cpus();
    if (!n) return std::unexpected(std::move(n).error());
    cpus = *n;
  }
  auto fd = k.map_create(spec);
  if (!fd) return std::unexpected(std::move(fd).error());
  return Map(k, std::move(*fd), std::move(spec), cpus);
}

Result<void> Map::update(const void* key, const void* value, uint64_t flags) {
  auto r = kernel_->map_update(fd(), key, value, flags);
  if (!r) return std::unexpected(std::move(r).error().with_context("map " + spec_.name));
  return {};
}

Result<void> Map::lookup(const void* key, void* value) const {
  auto r = kernel_->map_lookup(fd(), key, value);
  if (!r) return std::unexpected(std::move(r).error().with_context("map " + spec_.name));
  return {};
}

Result<void> Map::remove(const void* key) {
  auto r = kernel_->map_delete(fd(), key);
  if (!r) return std::unexpected(std::move(r).error().with_context("map " + spec_.name));
  return {};
}

Result<void> Map::pin(const std::string& path) { return kernel_->obj_pin(fd(), path); }

Result<Map> Map::open_pinned(Kernel& k, const std::string& path, MapSpec spec) {
  int cpus = 1;
  if (is_percpu(spec.type)) {
    auto n = k.possible_cpus();
    if (!n) return std::unexpected(std::move(n).error());
    cpus = *n;
  }
  auto fd = k.obj_get(path);
  if (!fd) return std::unexpected(std::move(fd).error().with_context("opening pinned map " + path));
  return Map(k, std::move(*fd), std::move(spec), cpus);
}

Result<Prog> Prog::load(Kernel& k, const ProgSpec& spec) {
  auto fd = k.prog_load(spec);
  if (!fd) return std::unexpected(std::move(fd).error());
  return Prog(k, std::move(*fd), spec.name, spec.type, spec.insns.size());
}

Result<TestRunResult> Prog::test_run(const TestRunSpec& spec) const {
  auto r = kernel_->prog_test_run(fd(), spec);
  if (!r) return std::unexpected(std::move(r).error().with_context("test-running program " + name_));
  return r;
}

Result<void> Prog::pin(const std::string& path) { return kernel_->obj_pin(fd(), path); }

Result<Prog> Prog::open_pinned(Kernel& k, const std::string& path, std::string name, bpf_prog_type type,
                               size_t insn_count) {
  auto fd = k.obj_get(path);
  if (!fd) return std::unexpected(std::move(fd).error().with_context("opening pinned program " + path));
  return Prog(k, std::move(*fd), std::move(name), type, insn_count);
}

Result<Link> Link::create(Kernel& k, const Prog& prog, const LinkSpec& spec) {
  auto fd = k.link_create(prog.fd(), spec);
  if (!fd) return std::unexpected(std::move(fd).error().with_context("attaching program " + prog.name()));
  return Link(k, std::move(*fd));
}

Result<void> Link::update(const Prog& prog) {
  auto r = kernel_->link_update(fd(), prog.fd());
  if (!r) return std::unexpected(std::move(r).error().with_context("swapping in program " + prog.name()));
  return {};
}

Result<void> Link::pin(const std::string& path) { return kernel_->obj_pin(fd(), path); }

Result<Link> Link::open_pinned(Kernel& k, const std::string& path) {
  auto fd = k.obj_get(path);
  if (!fd) return std::unexpected(std::move(fd).error().with_context("opening pinned link " + path));
  return Link(k, std::move(*fd));
}

}  // namespace nfbpf::codegen::kernel
