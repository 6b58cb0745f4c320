// nfbpf: the operator's view of nfbpf.
//   nfbpf status [-j] [--socket PATH]   base chains running as BPF, where, which program, refusals
//   nfbpf verify RULESET [...]          kernel vs nfbpf on a ruleset, in scratch namespaces
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "nfnl-server/cli/status_client.h"
#include "nfnl-server/cli/verify/verify_command.h"
#include "nfnl-server/offload/status.h"

namespace {

int run_status(const std::string& socket_path, bool as_json) {
  auto text = nfbpf::cli::fetch_status_json(socket_path);
  if (!text) {
    fmt::print(stderr, "nfbpf: {}\n", text.error().describe());
    return EXIT_FAILURE;
  }
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    fmt::print(stderr, "nfbpf: nfbpfd's status is not valid JSON\n");
    return EXIT_FAILURE;
  }
  if (as_json)
    fmt::print("{}\n", j.dump(2));
  else
    fmt::print("{}", nfbpf::offload::render_status_text(j));
  return EXIT_SUCCESS;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nfbpf: inspect a running nfbpfd, verify a ruleset"};
  app.require_subcommand(1);
  std::string socket_path = nfbpf::cli::default_socket_path();
  app.add_option("--socket", socket_path, "nfbpfd's socket (default: $NFBPF_SOCKET or /run/nfbpf/nfbpf.sock)")
      ->capture_default_str();
  bool as_json = false;
  CLI::App* status = app.add_subcommand("status", "base chains offloaded as BPF: attach points, programs, refusals");
  status->add_flag("-j,--json", as_json, "print JSON");
  CLI::App* verify = nullptr;
  auto run_verify = nfbpf::verify::add_verify_command(app, &verify);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // verify's contract: 2 when it could not run (bad usage included); --help is not an error.
    return rc == 0 ? 0 : (verify->parsed() ? 2 : rc);
  }
  if (verify->parsed()) return run_verify();
  return run_status(socket_path, as_json);
}
