#include "nfnl-server/cli/verify/xt_state.h"

#include <cstdio>
#include <sstream>

#include <fmt/format.h>

namespace nfbpf::verify {

std::string empty_tables_restore(const std::string& save_text) {
  std::istringstream in(save_text);
  std::string line, out;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.starts_with("*")) {
      out += line + "\n";
      in_table = true;
    } else if (in_table && line.starts_with(":")) {
      // ":CHAIN POLICY [p:b]": a user chain's policy is "-" (it goes with the flush).
      std::istringstream w(line.substr(1));
      std::string chain, policy;
      w >> chain >> policy;
      if (!chain.empty() && policy != "-") out += fmt::format(":{} ACCEPT [0:0]\n", chain);
    } else if (in_table && line == "COMMIT") {
      out += "COMMIT\n";
      in_table = false;
    }
  }
  return out;
}

Counters save_counters(const std::string& save_text, const std::string& table) {
  Counters c;
  std::map<std::string, size_t> pos;
  std::istringstream lines(save_text);
  std::string line, current;
  while (std::getline(lines, line)) {
    if (line.starts_with("*")) current = line.substr(1);
    if (current != table) continue;
    unsigned long long pk = 0, by = 0;
    char chain[64] = {}, policy[16] = {};
    if (std::sscanf(line.c_str(), "[%llu:%llu] -A %63s", &pk, &by, chain) == 3) {
      c[fmt::format("{}#{}", chain, pos[chain]++)] = {pk, by};
    } else if (std::sscanf(line.c_str(), ":%63s %15s [%llu:%llu]", chain, policy, &pk, &by) == 4 &&
               std::string(policy) != "-") {
      c[fmt::format("policy {}", chain)] = {pk, by};
    }
  }
  return c;
}

}  // namespace nfbpf::verify
