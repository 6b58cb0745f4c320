#pragma once
// Test support: the same sockopt sequence against the kernel's x_tables (inside a fresh network
// namespace) and against the in-process handler (through the shim's marshalling), recorded as
// (return value, errno, output bytes) so the two runs can be compared byte for byte.

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nfnl-server/sockopt/xt_tables.h"

namespace nfbpf::nfnl::sockopt::testing {

class Backend {
 public:
  virtual ~Backend() = default;
  // As getsockopt/setsockopt on a raw socket of family `af`: >= 0, or -errno.
  virtual int get(int af, int optname, void* buf, socklen_t* len) = 0;
  virtual int set(int af, int optname, const void* buf, socklen_t len) = 0;
};

// Raw AF_INET/AF_INET6 sockets: only ever use this inside a private network namespace.
class KernelBackend : public Backend {
 public:
  KernelBackend();
  ~KernelBackend() override;
  int get(int af, int optname, void* buf, socklen_t* len) override;
  int set(int af, int optname, const void* buf, socklen_t len) override;

 private:
  int fd4_ = -1, fd6_ = -1;
};

// nfbpf's handler, called as nfbpfd calls it for the shim.
class StoreBackend : public Backend {
 public:
  int get(int af, int optname, void* buf, socklen_t* len) override;
  int set(int af, int optname, const void* buf, socklen_t len) override;
  IptSockopts& store() { return store_; }

 private:
  IptSockopts store_;
};

// One observation per call.
struct Observation {
  std::string what;
  int ret = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const Observation&) const = default;
};
using Trace = std::vector<Observation>;

// Runs `scenario` against the kernel in a forked child inside unshare(CLONE_NEWNET) and returns
// its trace (or a trace with one observation naming the failure).
Trace run_in_kernel_netns(const std::function<void(Backend&, Trace&)>& scenario);

// A readable description of the first difference between two traces, or "" if equal.
std::string first_difference(const Trace& kernel, const Trace& ours);

}  // namespace nfbpf::nfnl::sockopt::testing
