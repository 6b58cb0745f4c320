#include "codegen/kernel/fake_kernel.h"

#include <sys/eventfd.h>

#include <cstring>

#include "codegen/emit/kernel_field.h"
#include "codegen/kernel/objects.h"

namespace nfbpf::codegen::kernel {
namespace {

Result<Fd> new_fd() {
  int fd = eventfd(0, EFD_CLOEXEC);
  if (fd < 0) return fail_errno("eventfd");
  return Fd(fd);
}

bool is_array(bpf_map_type t) {
  return t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PROG_ARRAY;
}

}  // namespace

FakeKernel::FakeKernel() {
  for (size_t i = 0; i < emit::kKernelFields.size(); ++i) {
    const auto& n = emit::kKernelFields[i];
    member_offsets[std::string(n.type) + "." + std::string(n.member)] = static_cast<uint32_t>(8 * (i + 1));
  }
}

size_t FakeKernel::value_bytes(const MapSpec& s) const {
  if (s.type == BPF_MAP_TYPE_PROG_ARRAY) return 4;
  return is_percpu(s.type) ? (s.value_size + 7) / 8 * 8 * static_cast<size_t>(cpus) : s.value_size;
}

Result<Fd> FakeKernel::map_create(const MapSpec& spec) {
  if (spec.key_size == 0 || spec.max_entries == 0) return fail(EINVAL, "bad map spec");
  if (spec.type == BPF_MAP_TYPE_PROG_ARRAY && (spec.key_size != 4 || spec.value_size != 4))
    return fail(EINVAL, "prog array needs 4-byte keys and values");
  auto fd = new_fd();
  if (!fd) return fd;
  maps[fd->get()] = FakeMap{spec, {}};
  return fd;
}

Result<void> FakeKernel::map_update(int map_fd, const void* key, const void* value, uint64_t flags) {
  auto it = maps.find(map_fd);
  if (it == maps.end()) return fail(EBADF, "no such map");
  const MapSpec& s = it->second.spec;
  auto k = static_cast<const uint8_t*>(key);
  std::vector<uint8_t> kv(k, k + s.key_size);
  if (is_array(s.type)) {
    uint32_t idx;
    std::memcpy(&idx, key, 4);
    if (idx >= s.max_entries) return fail(E2BIG, "index out of range");
    if (flags == BPF_NOEXIST) return fail(EEXIST, "array elements always exist");
  } else {
    bool exists = it->second.elems.contains(kv);
    if (flags == BPF_NOEXIST && exists) return fail(EEXIST, "element exists");
    if (flags == BPF_EXIST && !exists) return fail(ENOENT, "no such element");
    if (!exists && it->second.elems.size() >= s.max_entries) return fail(E2BIG, "map full");
  }
  if (s.type == BPF_MAP_TYPE_PROG_ARRAY) {
    int pfd;
    std::memcpy(&pfd, value, 4);
    if (!progs.contains(pfd)) return fail(EBADF, "not a program fd");
  }
  auto v = static_cast<const uint8_t*>(value);
  it->second.elems[kv] = std::vector<uint8_t>(v, v + value_bytes(s));
  return {};
}

Result<void> FakeKernel::map_lookup(int map_fd, const void* key, void* value) {
  auto it = maps.find(map_fd);
  if (it == maps.end()) return fail(EBADF, "no such map");
  const MapSpec& s = it->second.spec;
  auto k = static_cast<const uint8_t*>(key);
  auto e = it->second.elems.find(std::vector<uint8_t>(k, k + s.key_size));
  if (e == it->second.elems.end()) {
    if (s.type == BPF_MAP_TYPE_ARRAY || s.type == BPF_MAP_TYPE_PERCPU_ARRAY) {
      uint32_t idx;
      std::memcpy(&idx, key, 4);
      if (idx >= s.max_entries) return fail(ENOENT, "index out of range");
      std::memset(value, 0, value_bytes(s));
      return {};
    }
    return fail(ENOENT, "no such element");
  }
  std::memcpy(value, e->second.data(), e->second.size());
  return {};
}

Result<void> FakeKernel::map_delete(int map_fd, const void* key) {
  auto it = maps.find(map_fd);
  if (it == maps.end()) return fail(EBADF, "no such map");
  const MapSpec& s = it->second.spec;
  if (s.type == BPF_MAP_TYPE_ARRAY || s.type == BPF_MAP_TYPE_PERCPU_ARRAY) return fail(EINVAL, "cannot delete from an array");
  auto k = static_cast<const uint8_t*>(key);
  if (it->second.elems.erase(std::vector<uint8_t>(k, k + s.key_size)) == 0) return fail(ENOENT, "no such element");
  return {};
}

Result<Fd> FakeKernel::prog_load(const ProgSpec& spec) {
  if (on_prog_load) NFBPF_TRYV(on_prog_load(spec));
  if (spec.insns.empty()) return fail(EINVAL, "empty program");
  auto fd = new_fd();
  if (!fd) return fd;
  FakeProg p{spec, std::vector<bpf_insn>(spec.insns.begin(), spec.insns.end())};
  p.spec.insns = {};
  p.spec.log_out = nullptr;
  progs[fd->get()] = std::move(p);
  return fd;
}

Result<TestRunResult> FakeKernel::prog_test_run(int prog_fd, const TestRunSpec& spec) {
  auto it = progs.find(prog_fd);
  if (it == progs.end()) return fail(EBADF, "no such program");
  if (!on_test_run) return fail(EOPNOTSUPP, "FakeKernel cannot run programs");
  return on_test_run(it->second, spec);
}

Result<Fd> FakeKernel::link_create(int prog_fd, const LinkSpec& spec) {
  if (!progs.contains(prog_fd)) return fail(EBADF, "no such program");
  for (const auto& [fd, l] : links) {
    if (spec.netfilter && l.spec.netfilter && l.spec.netfilter->pf == spec.netfilter->pf &&
        l.spec.netfilter->hooknum == spec.netfilter->hooknum &&
        l.spec.netfilter->priority == spec.netfilter->priority)
      return fail(EBUSY, "netfilter hook and priority taken");
  }
  auto fd = new_fd();
  if (!fd) return fd;
  links[fd->get()] = FakeLink{prog_fd, spec};
  return fd;
}

Result<void> FakeKernel::link_update(int link_fd, int new_prog_fd) {
  auto it = links.find(link_fd);
  if (it == links.end()) return fail(EBADF, "no such link");
  if (it->second.spec.netfilter) return fail(EOPNOTSUPP, "netfilter links cannot be updated");
  if (!progs.contains(new_prog_fd)) return fail(EBADF, "no such program");
  it->second.prog_fd = new_prog_fd;
  return {};
}

Result<void> FakeKernel::obj_pin(int fd, const std::string& path) {
  if (pins.contains(path)) return fail(EEXIST, "pinned path exists");
  pins[path] = fd;
  return {};
}

Result<Fd> FakeKernel::obj_get(const std::string& path) {
  if (!pins.contains(path)) return fail(ENOENT, "nothing pinned at " + path);
  return fail(EOPNOTSUPP, "FakeKernel cannot reopen pinned objects");
}

Result<int32_t> FakeKernel::kfunc_btf_id(std::string_view name) {
  // Stable fake ids so linked images are deterministic in tests.
  int32_t h = 1000;
  for (char c : name) h = h * 31 + static_cast<unsigned char>(c) % 997;
  return (h & 0x7fff) + 1;
}

Result<int32_t> FakeKernel::btf_type_id(std::string_view name, uint32_t kind) {
  auto id = kfunc_btf_id(name);
  if (!id) return id;
  return *id + static_cast<int32_t>(kind) * 0x8000;
}

Result<uint32_t> FakeKernel::btf_member_offset(std::string_view type, std::string_view member) {
  auto it = member_offsets.find(std::string(type) + "." + std::string(member));
  if (it == member_offsets.end()) return failf(ENOENT, "no fake offset for {}.{}", type, member);
  return it->second;
}

}  // namespace nfbpf::codegen::kernel
