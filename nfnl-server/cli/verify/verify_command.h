#pragma once
// `nfbpf verify RULESET [--format nft|iptables|ip6tables] [--pcap FILE] [--json] [--report FILE]`:
// the subcommand's options and what it prints. Exit status: 0 equal, 1 mismatches or refusals,
// 2 could not run.

#include <functional>

#include <CLI/CLI.hpp>

namespace nfbpf::verify {

// Adds the subcommand to `app`; the returned function runs it (after parsing) and gives the
// process exit status.
std::function<int()> add_verify_command(CLI::App& app, CLI::App** sub);

}  // namespace nfbpf::verify
