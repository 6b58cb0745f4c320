#pragma once
// Kernel over the real bpf(2) syscall, through libbpf's low-level API (bpf/bpf.h). Not
// thread-safe (it caches vmlinux BTF lazily); use one per thread or guard it.

#include <map>
#include <memory>
#include <string>

#include "codegen/kernel/kernel.h"

struct btf;

namespace nfbpf::codegen::kernel {

class LinuxKernel final : public Kernel {
 public:
  LinuxKernel();
  ~LinuxKernel() override;

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
  Result<int> possible_cpus() override;

 private:
  struct BtfDeleter {
    void operator()(struct btf* b) const;
  };
  Result<const struct btf*> vmlinux();
  std::unique_ptr<struct btf, BtfDeleter> vmlinux_;
  std::map<std::string, int32_t, std::less<>> kfunc_ids_;
};

}  // namespace nfbpf::codegen::kernel
