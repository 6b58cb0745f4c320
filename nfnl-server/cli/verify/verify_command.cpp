#include "nfnl-server/cli/verify/verify_command.h"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/batch.h"
#include "nfnl-server/cli/verify/engine.h"
#include "nfnl-server/cli/verify/process.h"
#include "nfnl-server/cli/verify/render.h"

namespace nfbpf::verify {

std::function<int()> add_verify_command(CLI::App& app, CLI::App** sub) {
  struct State {
    VerifyOptions opt;
    bool json = false;
    std::string report_path, fault;
    bool batch = false;
  };
  auto st = std::make_shared<State>();
  CLI::App* v = app.add_subcommand(
      "verify", "load a ruleset into the kernel and into nfbpf in scratch namespaces and compare them rule by rule and "
                "packet by packet (no running daemon needed; nothing outside the scratch namespaces is touched)");
  v->add_option("ruleset", st->opt.ruleset_path, "nft -f file, or iptables-save / ip6tables-save output");
  v->add_flag("--batch", st->batch,
              "one testbed for many requests: JSON requests on stdin, one per line, one JSON reply per line on stdout "
              "(docs/migration.md, \"Batch mode\")");
  v->add_option("--offload", st->opt.offload,
                "nfbpfd's mode: strict (what BPF cannot run is refused) or hybrid (the daemon's default: it goes to "
                "the kernel of nfbpfd's namespace; the report says where each rule runs)")
      ->check(CLI::IsMember({"strict", "hybrid"}))
      ->capture_default_str();
  v->add_option("--format", st->opt.format, "nft, iptables or ip6tables (default: detected)")
      ->check(CLI::IsMember({"nft", "iptables", "ip6tables"}));
  v->add_option("--pcap", st->opt.pcap_path, "replay this capture too (pcap/pcapng; Ethernet, raw IP, Linux cooked)")
      ->check(CLI::ExistingFile);
  v->add_option("--max-packets", st->opt.max_packets, "replay at most this many packets of the capture")->capture_default_str();
  v->add_option("--max-named", st->opt.max_named, "name at most this many differing packets")->capture_default_str();
  v->add_option("--set-elements", st->opt.max_set_elements, "boundary probes for at most this many elements per set")
      ->capture_default_str();
  v->add_option("--in-dev", st->opt.in_dev,
                "name of the device packets arrive on, on both sides (use the ruleset's own, e.g. eth0, to exercise "
                "its iifname rules)")
      ->capture_default_str();
  v->add_option("--out-dev", st->opt.out_dev, "name of the device forwarded packets leave by (oifname rules)")
      ->capture_default_str();
  v->add_flag("--json", st->json, "print the report as JSON");
  v->add_option("--report", st->report_path, "write an HTML report (one row per rule) to this file");
  v->add_option("--nfbpfd", st->opt.tools.nfbpfd, "nfbpfd to run (default: beside nfbpf)");
  v->add_option("--nfbpf-run", st->opt.tools.nfbpf_run, "nfbpf-run to use (default: beside nfbpf)");
  // Test-only: handed to the private nfbpfd as NFBPF_TEST_FAULT (docs/migration.md, "Testing
  // verify itself"); hidden from --help.
  v->add_option("--test-fault", st->fault)->group("");
  *sub = v;
  return [st]() -> int {
    VerifyOptions opt = st->opt;
    opt.progress = isatty(STDERR_FILENO) && !st->json;
    if (!st->fault.empty()) opt.daemon_env["NFBPF_TEST_FAULT"] = st->fault;
    install_interrupt_handler();
    if (st->batch) return run_batch(opt, std::cin, std::cout);
    if (opt.ruleset_path.empty()) {
      fmt::print(stderr, "nfbpf verify: a RULESET (or --batch) is required\n");
      return 2;
    }
    nlohmann::json report = run_verify(opt);
    if (!st->report_path.empty()) {
      std::ofstream out(st->report_path);
      out << render_html(report);
      if (!out) fmt::print(stderr, "nfbpf verify: cannot write {}\n", st->report_path);
    }
    if (st->json)
      fmt::print("{}\n", report.dump(2));
    else
      fmt::print("{}", render_text(report));
    return report.value("exit", 2);
  };
}

}  // namespace nfbpf::verify
