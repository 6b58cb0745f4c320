#include "codegen/kernel/linux_kernel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <optional>

#include <fmt/format.h>

namespace nfbpf::codegen::kernel {
namespace {

// libbpf's low-level calls return -errno (libbpf 1.0 semantics).
std::unexpected<Error> fail_ret(int ret, std::string what) {
  int e = ret < 0 ? -ret : EIO;
  return std::unexpected<Error>(Error(e, fmt::format("{}: {}", what, strerror(e))));
}

// The last lines of a verifier log: the reason is at the end; the whole log can be megabytes.
std::string log_tail(const std::string& log, size_t max_chars = 3000) {
  std::string s = log.substr(0, log.find('\0'));
  while (!s.empty() && s.back() == '\n') s.pop_back();
  if (s.size() <= max_chars) return s;
  size_t cut = s.find('\n', s.size() - max_chars);
  return "...\n" + s.substr(cut == std::string::npos ? s.size() - max_chars : cut + 1);
}

}  // namespace

void LinuxKernel::BtfDeleter::operator()(struct btf* b) const { btf__free(b); }

LinuxKernel::LinuxKernel() = default;
LinuxKernel::~LinuxKernel() = default;

Result<Fd> LinuxKernel::map_create(const MapSpec& spec) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = spec.flags);
  std::string name = spec.name.substr(0, BPF_OBJ_NAME_LEN - 1);
  int fd = bpf_map_create(spec.type, name.c_str(), spec.key_size, spec.value_size, spec.max_entries,
                          &opts);
  if (fd < 0) return fail_ret(fd, fmt::format("creating map {} (type {})", spec.name, static_cast<int>(spec.type)));
  return Fd(fd);
}

Result<void> LinuxKernel::map_update(int map_fd, const void* key, const void* value, uint64_t flags) {
  int r = bpf_map_update_elem(map_fd, key, value, flags);
  if (r < 0) return fail_ret(r, "updating map element");
  return {};
}

Result<void> LinuxKernel::map_lookup(int map_fd, const void* key, void* value) {
  int r = bpf_map_lookup_elem(map_fd, key, value);
  if (r < 0) return fail_ret(r, "looking up map element");
  return {};
}

Result<void> LinuxKernel::map_delete(int map_fd, const void* key) {
  int r = bpf_map_delete_elem(map_fd, key);
  if (r < 0) return fail_ret(r, "deleting map element");
  return {};
}

Result<Fd> LinuxKernel::prog_load(const ProgSpec& spec) {
  auto attempt = [&](uint32_t level, std::string* log) {
    LIBBPF_OPTS(bpf_prog_load_opts, opts);
    opts.expected_attach_type = spec.expected_attach_type;
    if (level > 0) {
      log->assign(size_t{16} << 20, '\0');
      opts.log_buf = log->data();
      opts.log_size = static_cast<uint32_t>(log->size());
      opts.log_level = level;
    }
    std::string name = spec.name.substr(0, BPF_OBJ_NAME_LEN - 1);
    return bpf_prog_load(spec.type, name.c_str(), spec.license.c_str(), spec.insns.data(),
                         spec.insns.size(), &opts);
  };
  std::string log;
  int fd = attempt(spec.log_level, &log);
  if (fd < 0 && spec.log_level == 0) {
    // Retry with a log: the first attempt skips it because logging slows big loads down.
    int first = fd;
    int again = attempt(1, &log);
    fd = (again >= 0 || again != -ENOSPC) ? again : first;  // ENOSPC: only the log overflowed
  }
  if (spec.log_out) *spec.log_out = log.substr(0, log.find('\0'));
  if (fd < 0) {
    auto err = fail_ret(fd, fmt::format("loading program {} ({} insns)", spec.name, spec.insns.size()));
    std::string tail = log_tail(log);
    if (!tail.empty()) err.error().msg += "\nverifier log:\n" + tail;
    return err;
  }
  return Fd(fd);
}

Result<TestRunResult> LinuxKernel::prog_test_run(int prog_fd, const TestRunSpec& spec) {
  TestRunResult out;
  out.data_out.resize(spec.data_out_size);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = spec.data_in.data();
  opts.data_size_in = static_cast<uint32_t>(spec.data_in.size());
  if (!spec.ctx_in.empty()) {
    opts.ctx_in = spec.ctx_in.data();
    opts.ctx_size_in = static_cast<uint32_t>(spec.ctx_in.size());
  }
  if (spec.data_out_size) {
    opts.data_out = out.data_out.data();
    opts.data_size_out = spec.data_out_size;
  }
  opts.repeat = spec.repeat;
  int r = bpf_prog_test_run_opts(prog_fd, &opts);
  if (r < 0) return fail_ret(r, "BPF_PROG_TEST_RUN");
  out.retval = opts.retval;
  out.duration_ns = opts.duration;
  if (spec.data_out_size) out.data_out.resize(opts.data_size_out);
  return out;
}

Result<Fd> LinuxKernel::link_create(int prog_fd, const LinkSpec& spec) {
  LIBBPF_OPTS(bpf_link_create_opts, opts);
  opts.flags = spec.flags;
  if (spec.netfilter) {
    opts.netfilter.pf = spec.netfilter->pf;
    opts.netfilter.hooknum = spec.netfilter->hooknum;
    opts.netfilter.priority = spec.netfilter->priority;
    opts.netfilter.flags = spec.netfilter->flags;
  }
  int fd = bpf_link_create(prog_fd, spec.target, spec.attach_type, &opts);
  if (fd < 0) return fail_ret(fd, fmt::format("creating link (attach type {})", static_cast<int>(spec.attach_type)));
  return Fd(fd);
}

Result<void> LinuxKernel::link_update(int link_fd, int new_prog_fd) {
  int r = bpf_link_update(link_fd, new_prog_fd, nullptr);
  if (r < 0) return fail_ret(r, "updating link");
  return {};
}

Result<void> LinuxKernel::obj_pin(int fd, const std::string& path) {
  int r = bpf_obj_pin(fd, path.c_str());
  if (r < 0) return fail_ret(r, "pinning to " + path);
  return {};
}

Result<Fd> LinuxKernel::obj_get(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return fail_ret(fd, "opening pinned " + path);
  return Fd(fd);
}

Result<const struct btf*> LinuxKernel::vmlinux() {
  if (!vmlinux_) {
    struct btf* b = btf__load_vmlinux_btf();
    if (!b) return fail_errno("loading vmlinux BTF");
    vmlinux_.reset(b);
  }
  return vmlinux_.get();
}

Result<int32_t> LinuxKernel::btf_type_id(std::string_view name, uint32_t kind) {
  auto b = vmlinux();
  if (!b) return std::unexpected(b.error());
  std::string n(name);
  int id = btf__find_by_name_kind(*b, n.c_str(), kind);
  if (id < 0) return failf(ENOENT, "type {} (kind {}) not found in vmlinux BTF", name, kind);
  return id;
}

namespace {

// Depth-first search through anonymous struct/union members; bit offsets add up.
std::optional<uint32_t> find_member_bits(const struct btf* b, const struct btf_type* t,
                                         std::string_view member, int depth) {
  if (depth > 8 || !(btf_is_struct(t) || btf_is_union(t))) return std::nullopt;
  const struct btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i, ++m) {
    uint32_t bits = btf_member_bit_offset(t, static_cast<uint32_t>(i));
    const char* name = btf__name_by_offset(b, m->name_off);
    if (name && member == name) return bits;
    if (!name || !*name) {
      const struct btf_type* inner = btf__type_by_id(b, m->type);
      while (inner && (btf_is_mod(inner) || btf_is_typedef(inner))) inner = btf__type_by_id(b, inner->type);
      if (!inner) continue;
      if (auto sub = find_member_bits(b, inner, member, depth + 1)) return bits + *sub;
    }
  }
  return std::nullopt;
}

// The (typedef/modifier-stripped) type of a member found like find_member_bits, for walking a
// dotted member path into embedded structs.
const struct btf_type* find_member_type(const struct btf* b, const struct btf_type* t, std::string_view member,
                                        int depth) {
  if (depth > 8 || !(btf_is_struct(t) || btf_is_union(t))) return nullptr;
  const struct btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i, ++m) {
    const char* name = btf__name_by_offset(b, m->name_off);
    const struct btf_type* inner = btf__type_by_id(b, m->type);
    while (inner && (btf_is_mod(inner) || btf_is_typedef(inner))) inner = btf__type_by_id(b, inner->type);
    if (!inner) continue;
    if (name && member == name) return inner;
    if (!name || !*name)
      if (auto sub = find_member_type(b, inner, member, depth + 1)) return sub;
  }
  return nullptr;
}

}  // namespace

Result<uint32_t> LinuxKernel::btf_member_offset(std::string_view type, std::string_view member) {
  auto b = vmlinux();
  if (!b) return std::unexpected(b.error());
  std::string n(type);
  int id = btf__find_by_name_kind(*b, n.c_str(), BTF_KIND_STRUCT);
  if (id < 0) id = btf__find_by_name_kind(*b, n.c_str(), BTF_KIND_UNION);
  if (id < 0) return failf(ENOENT, "struct {} not found in vmlinux BTF", type);
  // A dotted path ("sk_cgrp_data.classid") walks into embedded structs; the offsets add up. A
  // part may index an array member ("tuplehash[1].tuple"): index * the element's size is added.
  uint32_t total = 0;
  const struct btf_type* t = btf__type_by_id(*b, static_cast<uint32_t>(id));
  std::string_view rest = member;
  while (true) {
    std::string_view part = rest.substr(0, rest.find('.'));
    std::string_view name = part;
    std::optional<uint32_t> index;
    if (auto lb = part.find('['); lb != std::string_view::npos && part.back() == ']') {
      name = part.substr(0, lb);
      uint32_t v = 0;
      for (char ch : part.substr(lb + 1, part.size() - lb - 2)) {
        if (ch < '0' || ch > '9') return failf(EINVAL, "{}.{}: bad array index", type, member);
        v = v * 10 + static_cast<uint32_t>(ch - '0');
      }
      index = v;
    }
    auto bits = find_member_bits(*b, t, name, 0);
    if (!bits) return failf(ENOENT, "struct {} has no member {}", type, member);
    if (*bits % 8 != 0) return failf(EINVAL, "{}.{} is a bitfield", type, member);
    total += *bits / 8;
    const struct btf_type* inner = nullptr;
    if (index || part.size() != rest.size()) {
      inner = find_member_type(*b, t, name, 0);
      if (!inner) return failf(ENOENT, "{}.{}: {} is not an embedded struct", type, member, name);
    }
    if (index) {
      if (!btf_is_array(inner)) return failf(EINVAL, "{}.{}: {} is not an array", type, member, name);
      const struct btf_array* arr = btf_array(inner);
      if (*index >= arr->nelems) return failf(ERANGE, "{}.{}: index out of range", type, member);
      int64_t elem = btf__resolve_size(*b, arr->type);
      if (elem < 0) return failf(EINVAL, "{}.{}: element size unknown", type, member);
      total += *index * static_cast<uint32_t>(elem);
      inner = btf__type_by_id(*b, arr->type);
      while (inner && (btf_is_mod(inner) || btf_is_typedef(inner))) inner = btf__type_by_id(*b, inner->type);
      if (!inner) return failf(EINVAL, "{}.{}: element type unknown", type, member);
    }
    if (part.size() == rest.size()) return total;
    rest.remove_prefix(part.size() + 1);
    t = inner;
  }
}

Result<int32_t> LinuxKernel::kfunc_btf_id(std::string_view name) {
  if (auto it = kfunc_ids_.find(name); it != kfunc_ids_.end()) return it->second;
  auto b = vmlinux();
  if (!b) return std::unexpected(b.error());
  std::string n(name);
  int id = btf__find_by_name_kind(*b, n.c_str(), BTF_KIND_FUNC);
  if (id < 0) return failf(ENOENT, "kfunc {} not found in vmlinux BTF", name);
  kfunc_ids_.emplace(n, id);
  return id;
}

Result<int> LinuxKernel::possible_cpus() {
  int n = libbpf_num_possible_cpus();
  if (n <= 0) return fail_ret(n, "counting possible CPUs");
  return n;
}

}  // namespace nfbpf::codegen::kernel
