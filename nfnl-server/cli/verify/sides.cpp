#include "nfnl-server/cli/verify/sides.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "nfnl-server/cli/status_client.h"
#include "nfnl-server/cli/verify/xt_state.h"

namespace nfbpf::verify {

ToolPaths locate_tools(ToolPaths given) {
  std::error_code ec;
  const auto dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (given.nfbpfd.empty()) given.nfbpfd = (dir / "nfbpfd").string();
  if (given.nfbpf_run.empty()) given.nfbpf_run = (dir / "nfbpf-run").string();
  return given;
}

Result<void> Sides::start_daemon() {
  if (access(tools_.nfbpfd.c_str(), X_OK) != 0) return fail_errno("nfbpfd " + tools_.nfbpfd);
  if (access(tools_.nfbpf_run.c_str(), X_OK) != 0) return fail_errno("nfbpf-run " + tools_.nfbpf_run);
  const std::string bpffs = work_dir_ + "/bpffs";
  mkdir(bpffs.c_str(), 0700);
  unlink(socket_path().c_str());
  NFBPF_TRYV(daemon_.start({tools_.nfbpfd, "--socket", socket_path(), "--offload=" + offload_}, net_.ns(Side::kNfbpf), bpffs,
                           log_path(), daemon_env_));
  for (int i = 0; i < 1000; ++i) {  // up to 10 s
    if (access(socket_path().c_str(), F_OK) == 0) return {};
    if (!daemon_.alive()) return failf(EIO, "nfbpfd exited at start (log: {})", log_path());
    if (interrupted()) return failf(EINTR, "interrupted");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return failf(ETIMEDOUT, "nfbpfd did not open its socket within 10 s (log: {})", log_path());
}

Result<void> Sides::restart_daemon() {
  daemon_.stop();
  return start_daemon();
}

namespace {

// Commands that may change x_tables: iptables-legacy*, ip6tables*, arptables, ebtables, or a shell
// running any of them.
bool may_touch_xtables(const std::vector<std::string>& argv) {
  if (argv.empty()) return false;
  const std::string prog = std::filesystem::path(argv[0]).filename().string();
  return prog.find("tables") != std::string::npos || prog == "sh" || prog == "bash";
}

}  // namespace

Result<RunResult> Sides::cmd(Side s, const std::vector<std::string>& argv, const std::string& stdin_text) {
  RunOptions opt{.netns_fd = net_.ns(s), .stdin_text = stdin_text,
                 .env = {{"LC_ALL", "C"}, {"XTABLES_LOCKFILE", work_dir_ + "/xtables.lock"}}};
  if (may_touch_xtables(argv)) xt_touched_[s == Side::kKernel ? 0 : 1] = true;
  std::vector<std::string> full;
  if (s == Side::kNfbpf) {
    opt.env["NFBPF_SOCKET"] = socket_path();
    full.push_back(tools_.nfbpf_run);
  }
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full, opt);
}

Result<std::string> Sides::checked(Side s, const std::vector<std::string>& argv, const std::string& stdin_text) {
  auto r = cmd(s, argv, stdin_text);
  if (!r) return std::unexpected(std::move(r).error());
  if (r->status != 0)
    return failf(EIO, "{} side: {}: {}", s == Side::kKernel ? "kernel" : "nfbpf", fmt::join(argv, " "), r->err);
  return std::move(r->out);
}

Result<void> Sides::flush(Side s) {
  NFBPF_TRYV(checked(s, {"nft", "flush", "ruleset"}));
  bool& touched = xt_touched_[s == Side::kKernel ? 0 : 1];
  if (!touched) return {};
  for (const std::string tool : {"iptables-legacy", "ip6tables-legacy"}) {
    auto save = checked(s, {tool + "-save"});
    if (!save) return std::unexpected(std::move(save).error());
    const std::string empty = empty_tables_restore(*save);
    if (!empty.empty()) NFBPF_TRYV(checked(s, {tool + "-restore"}, empty));
  }
  touched = false;
  return {};
}

std::string Sides::legacy_placement(const std::string& family, const std::string& table) {
  auto st = status();
  if (!st) return "";
  for (const auto& t : st->value("legacy_tables", nlohmann::json::array()))
    if (t.value("family", "") == family && t.value("table", "") == table) return t.value("where", "");
  return "";
}

Result<void> Sides::check_no_bypass() {
  const int ns = net_.ns(Side::kNfbpf);
  auto nft = run({"nft", "-j", "list", "tables"}, RunOptions{.netns_fd = ns});
  if (!nft) return std::unexpected(std::move(nft).error());
  // Hybrid: nfbpfd itself puts the chains BPF cannot run into its namespace's kernel; those tables
  // (and only those) may be there.
  std::set<std::string> placed;
  if (offload_ == "hybrid") {
    auto st = status();
    if (st && st->contains("placement"))
      for (const auto& p : (*st)["placement"])
        if (p.value("where", "").find("kernel") != std::string::npos)
          placed.insert(p.value("family", "") + " " + p.value("table", ""));
  }
  auto j = nlohmann::json::parse(nft->out, nullptr, false);
  if (!j.is_discarded() && j.contains("nftables"))
    for (const auto& item : j["nftables"])
      if (item.contains("table") && item["table"].value("name", "") != "nfbpf_conntrack" &&
          !placed.contains(item["table"].value("family", "") + " " + item["table"].value("name", "")))
        return failf(EIO, "the nfbpf side's commands reached the kernel (table {} {} is in its kernel): is {} "
                     "pointing at a built libnfbpf-shim.so?", item["table"].value("family", ""),
                     item["table"].value("name", ""), tools_.nfbpf_run);
  if (offload_ == "hybrid") return {};  // legacy tables BPF cannot run go to the kernel's x_tables there
  for (const char* save : {"iptables-legacy-save", "ip6tables-legacy-save"}) {
    auto x = run({save}, RunOptions{.netns_fd = ns});
    if (x && x->out.find("\n-A ") != std::string::npos)
      return failf(EIO, "the nfbpf side's commands reached the kernel (x_tables rules in its kernel): is {} "
                   "pointing at a built libnfbpf-shim.so?", tools_.nfbpf_run);
  }
  return {};
}

Result<nlohmann::json> Sides::status() {
  auto text = cli::fetch_status_json(socket_path());
  if (!text) return std::unexpected(std::move(text).error());
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return failf(EINVAL, "nfbpfd's status is not JSON");
  return j;
}

size_t Sides::log_size() const {
  struct stat st {};
  return stat(log_path().c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

std::string Sides::refusal_reason(size_t offset, const std::string& client_stderr) const {
  std::ifstream f(log_path());
  f.seekg(static_cast<std::streamoff>(offset));
  std::string line, fallback;
  while (std::getline(f, line)) {
    // nft batches, and x_tables replaces (iptables-legacy through the shim).
    for (const std::string key : {"offload refused the batch:", "refused by the backend:"})
      if (auto p = line.find(key); p != std::string::npos) {
        std::string r = line.substr(p + key.size());
        return r.substr(r.find_first_not_of(' ') == std::string::npos ? 0 : r.find_first_not_of(' '));
      }
    if (fallback.empty() && (line.find("EOPNOTSUPP") != std::string::npos || line.find("refus") != std::string::npos))
      fallback = line;
  }
  if (auto p = fallback.find("]: "); p != std::string::npos && fallback.starts_with("nfbpf[")) fallback = fallback.substr(p + 3);
  if (!fallback.empty()) return fallback;
  std::istringstream err(client_stderr);
  while (std::getline(err, line))
    if (line.starts_with("Error")) return line;
  return client_stderr.substr(0, 300);
}

}  // namespace nfbpf::verify
