#pragma once
// Child processes of `nfbpf verify`, each run inside one of its scratch network namespaces.
// Children die with verify (PR_SET_PDEATHSIG), so nothing outlives an interrupted run.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace nfbpf::verify {

struct RunResult {
  int status = -1;  // exit code; 128+signal when killed
  std::string out, err;
};

struct RunOptions {
  int netns_fd = -1;                           // setns into it before exec (-1: stay)
  std::string stdin_text;
  std::map<std::string, std::string> env;      // added to the environment
  std::chrono::milliseconds timeout{30000};    // killed (SIGKILL) after that: status 137
};

// argv[0] is looked up in PATH. Fails only when the process cannot be started.
Result<RunResult> run(const std::vector<std::string>& argv, const RunOptions& opt);

// A long-running child (nfbpfd): started in `netns_fd` inside a private mount namespace with a
// private bpffs at `bpffs_dir`, output appended to `log_path`. Killed by the destructor.
class Daemon {
 public:
  Daemon() = default;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() { stop(); }
  Result<void> start(const std::vector<std::string>& argv, int netns_fd, const std::string& bpffs_dir,
                     const std::string& log_path, const std::map<std::string, std::string>& env);
  bool alive();
  void stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Set by the SIGINT/SIGTERM handler `nfbpf verify` installs; every wait checks it.
bool interrupted();
void install_interrupt_handler();

}  // namespace nfbpf::verify
