#pragma once
// An in-memory Kernel for unit tests: maps are byte-keyed tables with array/prog-array semantics,
// programs are recorded (their instructions can be inspected), links remember their program and
// attach parameters. Every object is backed by a real eventfd so Fd can close it normally.
// Test runs call an optional hook (none: EOPNOTSUPP). Nothing here is verified like the kernel.

#include <functional>
#include <map>
#include <vector>

#include "codegen/kernel/kernel.h"

namespace nfbpf::codegen::kernel {

class FakeKernel final : public Kernel {
 public:
  struct FakeMap {
    MapSpec spec;
    std::map<std::vector<uint8_t>, std::vector<uint8_t>> elems;
  };
  struct FakeProg {
    ProgSpec spec;  // insns/log_out point nowhere after load; use `insns`
    std::vector<bpf_insn> insns;
  };
  struct FakeLink {
    int prog_fd;
    LinkSpec spec;
  };

  int cpus = 2;
  std::function<Result<TestRunResult>(const FakeProg&, const TestRunSpec&)> on_test_run;
  std::function<Result<void>(const ProgSpec&)> on_prog_load;  // return an error to refuse a load

  std::map<int, FakeMap> maps;
  std::map<int, FakeProg> progs;
  std::map<int, FakeLink> links;
  std::map<std::string, int> pins;

  Result<Fd> map_create(const MapSpec& spec) override;
  Result<void> map_update(int map_fd, const void* key, const void* value, uint64_t flags) override;
  Result<void> map_lookup(int map_fd, const void* key, void* value) override;
  Result<void> map_delete(int map_fd, const void* key) override;
  Result<Fd> prog_load(const ProgSpec& spec) override;
  Result<TestRunResult> prog_test_run(int prog_fd, const TestRunSpec& spec) override;
  Result<Fd> link_create(int prog_fd, const LinkSpec& spec) override;
  Result<void> link_update(int link_fd, int new_prog_fd) override;
  Result<void> obj_pin(int fd, const std::string& path) override;
  Result<Fd> obj_get(const std::string& path) override;
  Result<int32_t> kfunc_btf_id(std::string_view name) override;
  Result<int32_t> btf_type_id(std::string_view name, uint32_t kind) override;
  Result<uint32_t> btf_member_offset(std::string_view type, std::string_view member) override;
  // "type.member" -> offset (absent: ENOENT). Starts with made-up, distinct offsets for every
  // emit::KernelField so programs that read kernel fields link.
  std::map<std::string, uint32_t> member_offsets;

  FakeKernel();
  Result<int> possible_cpus() override { return cpus; }

 private:
  size_t value_bytes(const MapSpec& s) const;
};

}  // namespace nfbpf::codegen::kernel
