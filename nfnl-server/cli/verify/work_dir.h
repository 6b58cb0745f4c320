#pragma once
// The private directory of one verify run (nfbpfd's socket, log and bpffs mount point); removed at
// the end, whatever happens (the bpffs mount lives in nfbpfd's own mount namespace only).

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <utility>

#include "common/result.h"

namespace nfbpf::verify {

class WorkDir {
 public:
  static Result<WorkDir> create() {
    char tmpl[] = "/tmp/nfbpf-verify-XXXXXX";
    if (!mkdtemp(tmpl)) return fail_errno("mkdtemp");
    WorkDir w;
    w.path_ = tmpl;
    return w;
  }
  WorkDir() = default;
  WorkDir(WorkDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  WorkDir& operator=(WorkDir&&) = delete;
  ~WorkDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace nfbpf::verify
