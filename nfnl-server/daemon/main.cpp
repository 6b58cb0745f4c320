// nfbpfd: the userspace netfilter control plane. Foreground; logs to stderr.

#include <csignal>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "nfnl-server/daemon/control_wire.h"
#include "nfnl-server/daemon/server.h"
#include "nfnl-server/netlink/endpoint.h"
#include "nfnl-server/offload/legacy_table_offload.h"
#include "nfnl-server/offload/status.h"
#include "nfnl-server/offload/make_commit_hook.h"
#include "nfnl-server/offload/offload_hook.h"

namespace {

std::optional<nfbpf::log::Level> parse_level(const std::string& s) {
  using nfbpf::log::Level;
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warn") return Level::kWarn;
  if (s == "error") return Level::kError;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  namespace daemon = nfbpf::nfnl::daemon;
  CLI::App app{"nfbpfd: answers nf_tables netlink requests and runs rulesets as eBPF"};
  daemon::ServerOptions options;
  options.socket_path = nfbpf::nfnl::wire::kDefaultSocketPath;
  std::string level = "info";
  int reply_buffer_mib = options.reply_buffer_bytes >> 20;
  app.add_option("--socket", options.socket_path, "unix socket clients connect to")
      ->capture_default_str();
  app.add_option("--log-level", level, "debug, info, warn or error")->capture_default_str();
  app.add_option("--reply-buffer-mib", reply_buffer_mib,
                 "send buffer per client socket (SO_SNDBUFFORCE), MiB")
      ->check(CLI::Range(1, 1023))
      ->capture_default_str();
  std::string offload = "hybrid";
  app.add_option("--offload", offload,
                 "none: store rulesets only; strict: run them as BPF, refuse what cannot run; hybrid: run what "
                 "BPF can as BPF, the other chains in the kernel's nf_tables")
      ->check(CLI::IsMember({"none", "strict", "hybrid"}))
      ->capture_default_str();
  nfbpf::offload::PersistOptions persist;
  bool flush_on_exit = false;
  app.add_option("--bpffs", persist.bpffs,
                 "pin programs, maps and links in this bpffs directory: filtering outlives the daemon, "
                 "and a restarted daemon adopts them (strict)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--state-dir", persist.state_dir,
                 "save the committed ruleset here after each commit and restore it at start (strict)")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--flush-on-exit", flush_on_exit,
               "on SIGTERM/SIGINT remove everything pinned and saved instead of leaving it running");
  uint32_t counter_slots = nfbpf::codegen::chain::kCounterSlots;
  app.add_option("--counter-slots", counter_slots,
                 "rule counters shared by every BPF program (a per-CPU map, 16 bytes per slot per CPU); a "
                 "ruleset needing more is refused")
      ->check(CLI::Range(uint32_t{1}, uint32_t{1} << 24))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto lvl = parse_level(level);
  if (!lvl) {
    nfbpf::log::error("unknown --log-level '{}'", level);
    return EXIT_FAILURE;
  }
  nfbpf::log::set_threshold(*lvl);
  options.reply_buffer_bytes = reply_buffer_mib << 20;
  std::signal(SIGPIPE, SIG_IGN);

  boost::asio::io_context io;
  const auto mode = *nfbpf::offload::parse_offload_mode(offload);
  if (mode == nfbpf::offload::OffloadMode::kNone && (!persist.bpffs.empty() || !persist.state_dir.empty())) {
    nfbpf::log::error("--bpffs and --state-dir need --offload=strict or hybrid");
    return EXIT_FAILURE;
  }
  nfbpf::offload::OffloadBackend backend = nfbpf::offload::make_offload_backend(mode, persist);
  options.status_json = backend.status_json;  // `nfbpf status`
  if (backend.hook) backend.hook->set_counter_slots(counter_slots);  // before restore() opens the maps
  // Before serving: adopt what an earlier daemon left pinned and restore its ruleset.
  if (auto restored = backend.restore(); !restored) {
    nfbpf::log::error("cannot restore the saved state: {}", restored.error().describe());
    return EXIT_FAILURE;
  }
  // strict and hybrid: iptables-legacy's filter tables run as BPF too (declared before the
  // server, which calls it, and after the backend, whose hook it uses). strict refuses what BPF
  // cannot run; hybrid hands it to the kernel's x_tables (legacy_kernel_tables.h). With none the
  // legacy tables are stored and listed only.
  std::unique_ptr<nfbpf::offload::LegacyTableOffload> legacy;
  if (backend.hook) legacy = std::make_unique<nfbpf::offload::LegacyTableOffload>(*backend.hook);
  // hybrid: what BPF cannot run goes to this namespace's own x_tables instead of being refused.
  nfbpf::offload::LegacyKernelTables legacy_kernel;
  if (legacy && mode == nfbpf::offload::OffloadMode::kHybrid) legacy->set_kernel_tables(&legacy_kernel);
  // `nfbpf status` also says where each iptables-legacy table runs (BPF, the kernel's x_tables).
  if (legacy && backend.status_json)
    options.status_json = [base = backend.status_json, l = legacy.get()] {
      nlohmann::json j = nlohmann::json::parse(base(), nullptr, false);
      if (j.is_discarded() || !j.is_object()) return base();
      j["legacy_tables"] = nfbpf::offload::to_json(l->status());
      return j.dump();
    };
  daemon::Server server(io, options, *backend.protocol);
  if (legacy) server.iptables().set_backend(legacy.get());
  if (auto started = server.start(); !started) {
    nfbpf::log::error("cannot start: {}", started.error().describe());
    return EXIT_FAILURE;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    nfbpf::log::info("signal {}: shutting down", signo);
    server.stop();
  });
  io.run();
  if (legacy) {  // legacy tables are not persisted: neither half may outlive the daemon
    legacy->release_kernel_tables();
    legacy->release_bpf_tables();
  }
  backend.stop(flush_on_exit);
  nfbpf::log::info("stopped");
  return EXIT_SUCCESS;
}
