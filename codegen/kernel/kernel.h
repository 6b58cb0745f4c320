#pragma once
// The seam between nfbpf and the BPF syscall. Everything that talks to the kernel goes through a
// Kernel: LinuxKernel (linux_kernel.h) in production, FakeKernel (fake_kernel.h) in unit tests.
// Raw fds exist only here; callers hold the returned Fd in the RAII types of objects.h.

#include <linux/bpf.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace nfbpf::codegen::kernel {

struct MapSpec {
  bpf_map_type type = BPF_MAP_TYPE_ARRAY;
  uint32_t key_size = 4;
  uint32_t value_size = 0;
  uint32_t max_entries = 1;
  uint32_t flags = 0;  // e.g. BPF_F_NO_PREALLOC (required for LPM tries)
  std::string name;    // truncated to 15 chars by the kernel
};

struct ProgSpec {
  bpf_prog_type type = BPF_PROG_TYPE_UNSPEC;
  bpf_attach_type expected_attach_type = static_cast<bpf_attach_type>(0);
  std::string name;
  std::span<const bpf_insn> insns;
  std::string license = "GPL";  // kfuncs and bpf_dynptr need a GPL-compatible program
  // 0: log only on failure (the load is retried with level 1); 1/2: always log (into log_out).
  uint32_t log_level = 0;
  std::string* log_out = nullptr;
};

// Netfilter link parameters (struct bpf_link_create_opts::netfilter).
struct NetfilterHook {
  uint32_t pf = 0;        // NFPROTO_IPV4 / NFPROTO_IPV6
  uint32_t hooknum = 0;   // NF_INET_PRE_ROUTING ... NF_INET_POST_ROUTING
  int32_t priority = 0;   // anything but INT_MIN / INT_MAX
  uint32_t flags = 0;     // BPF_F_NETFILTER_IP_DEFRAG
};

struct LinkSpec {
  bpf_attach_type attach_type = static_cast<bpf_attach_type>(0);
  int target = 0;      // ifindex (XDP, TCX), cgroup fd (cgroup_skb), 0 (netfilter)
  uint32_t flags = 0;  // e.g. XDP_FLAGS_SKB_MODE
  std::optional<NetfilterHook> netfilter;
};

struct TestRunSpec {
  std::span<const uint8_t> data_in;
  std::span<const uint8_t> ctx_in;  // empty: none (see docs/codegen.md for netfilter)
  uint32_t repeat = 1;
  uint32_t data_out_size = 0;       // capacity for data_out; 0: do not copy the packet back
};

struct TestRunResult {
  uint32_t retval = 0;
  uint32_t duration_ns = 0;  // average per run, as the kernel reports it
  std::vector<uint8_t> data_out;
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  virtual Result<Fd> map_create(const MapSpec& spec) = 0;
  // `value` is value_size bytes, or round_up(value_size, 8) * possible_cpus() for per-CPU maps.
  virtual Result<void> map_update(int map_fd, const void* key, const void* value, uint64_t flags) = 0;
  virtual Result<void> map_lookup(int map_fd, const void* key, void* value) = 0;  // ENOENT if absent
  virtual Result<void> map_delete(int map_fd, const void* key) = 0;

  // Loads a program; on failure the error message carries the tail of the verifier log.
  virtual Result<Fd> prog_load(const ProgSpec& spec) = 0;
  virtual Result<TestRunResult> prog_test_run(int prog_fd, const TestRunSpec& spec) = 0;

  virtual Result<Fd> link_create(int prog_fd, const LinkSpec& spec) = 0;
  virtual Result<void> link_update(int link_fd, int new_prog_fd) = 0;

  // Pin/open an object in a bpffs directory (mounted by the caller, in a private mount namespace).
  virtual Result<void> obj_pin(int fd, const std::string& path) = 0;
  virtual Result<Fd> obj_get(const std::string& path) = 0;

  // BTF id of a kernel function (BTF_KIND_FUNC) in vmlinux BTF; ENOENT if the kernel lacks it.
  virtual Result<int32_t> kfunc_btf_id(std::string_view name) = 0;
  // BTF id of a named vmlinux type of the given kind (e.g. BTF_KIND_STRUCT "nf_conn", for
  // bpf_rdonly_cast); ENOENT if absent.
  virtual Result<int32_t> btf_type_id(std::string_view name, uint32_t kind) = 0;
  // Byte offset of `member` in vmlinux struct/union `type` (anonymous nested members searched),
  // e.g. ("sk_buff", "mark"), ("net_device", "ifindex"). Reading kernel objects through
  // PTR_TO_BTF_ID needs these; the layout differs between kernels, so never hard-code them.
  virtual Result<uint32_t> btf_member_offset(std::string_view type, std::string_view member) = 0;
  virtual Result<int> possible_cpus() = 0;
};

}  // namespace nfbpf::codegen::kernel
