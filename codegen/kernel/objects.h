#pragma once
// Move-only RAII handles for BPF maps, programs and links. Each keeps the Kernel it came from
// (which must outlive it) so that operations go through the same seam; closing the fd is the
// only destructor work (pinned objects and attached links' owners survive per kernel rules).

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/kernel/kernel.h"

namespace nfbpf::codegen::kernel {

bool is_percpu(bpf_map_type t);

class Map {
 public:
  static Result<Map> create(Kernel& k, MapSpec spec);
  Map(Map&&) = default;
  Map& operator=(Map&&) = default;

  int fd() const { return fd_.get(); }
  const MapSpec& spec() const { return spec_; }
  // Bytes a lookup/update value buffer must hold: value_size, or round_up(value_size, 8) * CPUs
  // for per-CPU maps (one value per possible CPU, in CPU order).
  size_t value_bytes() const { return value_bytes_; }
  int cpus() const { return cpus_; }

  Result<void> update(const void* key, const void* value, uint64_t flags = BPF_ANY);
  Result<void> lookup(const void* key, void* value) const;
  Result<void> remove(const void* key);
  Result<void> pin(const std::string& path);
  // A map pinned earlier (by this process or a previous one); `spec` as it was created.
  static Result<Map> open_pinned(Kernel& k, const std::string& path, MapSpec spec);

 private:
  Map(Kernel& k, Fd fd, MapSpec spec, int cpus);
  Kernel* kernel_;
  Fd fd_;
  MapSpec spec_;
  int cpus_;
  size_t value_bytes_;
};

class Prog {
 public:
  // spec.insns must already be linked (see loader.h for emitted Programs).
  static Result<Prog> load(Kernel& k, const ProgSpec& spec);
  Prog(Prog&&) = default;
  Prog& operator=(Prog&&) = default;

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }
  bpf_prog_type type() const { return type_; }
  size_t insn_count() const { return insn_count_; }

  Result<TestRunResult> test_run(const TestRunSpec& spec) const;
  Result<void> pin(const std::string& path);
  // A program pinned earlier; name, type and instruction count as it was loaded.
  static Result<Prog> open_pinned(Kernel& k, const std::string& path, std::string name, bpf_prog_type type,
                                  size_t insn_count);

 private:
  Prog(Kernel& k, Fd fd, std::string name, bpf_prog_type type, size_t n)
      : kernel_(&k), fd_(std::move(fd)), name_(std::move(name)), type_(type), insn_count_(n) {}
  Kernel* kernel_;
  Fd fd_;
  std::string name_;
  bpf_prog_type type_;
  size_t insn_count_;
};

class Link {
 public:
  static Result<Link> create(Kernel& k, const Prog& prog, const LinkSpec& spec);
  Link(Link&&) = default;
  Link& operator=(Link&&) = default;

  int fd() const { return fd_.get(); }
  // Atomically replaces the attached program (XDP, TCX, cgroup; netfilter links refuse with
  // EOPNOTSUPP, which is why runtime::Dispatcher exists).
  Result<void> update(const Prog& prog);
  Result<void> pin(const std::string& path);
  // A link pinned earlier (the attachment it holds stays as it is).
  static Result<Link> open_pinned(Kernel& k, const std::string& path);

 private:
  Link(Kernel& k, Fd fd) : kernel_(&k), fd_(std::move(fd)) {}
  Kernel* kernel_;
  Fd fd_;
};

}  // namespace nfbpf::codegen::kernel
