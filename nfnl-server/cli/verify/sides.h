#pragma once
// The two sides of a verification: commands (nft, iptables-legacy-restore, ...) run in the kernel
// side's namespace as they are, and in the nfbpf side's namespace through nfbpf-run, routed to a
// private nfbpfd (--offload=strict) started here on a socket in a private directory.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "nfnl-server/cli/verify/process.h"
#include "nfnl-server/cli/verify/scratch_net.h"

namespace nfbpf::verify {

struct ToolPaths {
  std::string nfbpfd;     // default: beside the nfbpf binary
  std::string nfbpf_run;  // default: beside the nfbpf binary
};

// Fills the empty paths from the directory of /proc/self/exe.
ToolPaths locate_tools(ToolPaths given);

class Sides {
 public:
  // offload: nfbpfd's --offload mode, "strict" (refuses what BPF cannot run) or "hybrid" (the
  // daemon's default: what BPF cannot run goes to the kernel of nfbpfd's namespace).
  Sides(ScratchNet& net, ToolPaths tools, std::string work_dir, std::map<std::string, std::string> daemon_env,
        std::string offload = "strict")
      : net_(net), tools_(std::move(tools)), work_dir_(std::move(work_dir)), daemon_env_(std::move(daemon_env)),
        offload_(std::move(offload)) {}
  const std::string& offload() const { return offload_; }

  Result<void> start_daemon();
  bool daemon_alive() { return daemon_.alive(); }
  void stop_daemon() { daemon_.stop(); }
  Result<void> restart_daemon();

  // argv[0] is the program (nft, iptables-legacy-restore, ...). Every command gets a private
  // XTABLES_LOCKFILE (the machine's /run/xtables.lock belongs to the host's own iptables).
  Result<RunResult> cmd(Side s, const std::vector<std::string>& argv, const std::string& stdin_text = {});
  // Only stdout when the command succeeds; the command and its stderr otherwise.
  Result<std::string> checked(Side s, const std::vector<std::string>& argv, const std::string& stdin_text = {});

  // The side empty again for the next request of a batch: `nft flush ruleset` (nft tables, and
  // iptables-nft's, which are nft tables too) and, when a command that can touch x_tables ran on
  // this side since the last flush, every iptables-legacy / ip6tables-legacy table emptied
  // (xt_state.h: built-in chains only, policies ACCEPT, counters zero).
  Result<void> flush(Side s);

  // nfbpfd's log: its size now, and the reason it gave for a refusal logged after `offset`
  // (falls back to the client's stderr).
  size_t log_size() const;
  std::string refusal_reason(size_t offset, const std::string& client_stderr) const;
  std::string log_path() const { return work_dir_ + "/nfbpfd.log"; }
  // The nfbpf side's commands must reach nfbpfd, never the kernel of its namespace (a missing
  // libnfbpf-shim.so makes nfbpf-run a plain exec, and the comparison would be kernel against
  // kernel): its kernel must hold no table but nfbpfd's own conntrack anchor, and no x_tables rule.
  Result<void> check_no_bypass();
  // `nfbpf status --json` of the private daemon: where each chain runs.
  Result<nlohmann::json> status();
  // Hybrid: where nfbpfd runs a legacy table ("bpf", "kernel", "none"; "" when it cannot tell).
  std::string legacy_placement(const std::string& family, const std::string& table);

 private:
  ScratchNet& net_;
  ToolPaths tools_;
  std::string work_dir_;
  std::map<std::string, std::string> daemon_env_;
  std::string offload_;
  Daemon daemon_;
  bool xt_touched_[2] = {true, true};  // x_tables may hold something (unknown at first)
  std::string socket_path() const { return work_dir_ + "/nfbpfd.sock"; }
};

}  // namespace nfbpf::verify
