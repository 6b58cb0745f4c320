// iptables-save / ip6tables-save rulesets: iptables-legacy-restore on both sides (through
// nfbpf-run on nfbpf's: nfbpfd answers the x_tables sockopts), listings compared with -save,
// per-rule counters read with `-save -c` (every x_tables rule counts). When nfbpfd refuses the
// file, the tables and chains are restored alone and each rule added with its own command, so
// that refusals are named one by one. Boundary probes come from the nft translation
// (iptables-restore-translate) loaded in a namespace of its own. No sentinel table here (it
// would be an nft table next to the x_tables ones): counters are read until they stop moving.
#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/prepared.h"

namespace nfbpf::verify {

namespace {

struct IptRule {
  std::string table, chain, line;  // line: "-A CHAIN ..."
};

struct IptFile {
  std::vector<std::string> header;               // everything but the -A lines (tables, policies, COMMIT)
  std::vector<std::pair<size_t, IptRule>> rules; // (header line it follows, rule)
};

IptFile parse_save(const std::string& text) {
  IptFile f;
  std::istringstream in(text);
  std::string line, table;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) continue;
    if (line.starts_with("*")) table = line.substr(1);
    if (line.starts_with("-A ")) {
      std::istringstream w(line.substr(3));
      std::string chain;
      w >> chain;
      f.rules.push_back({f.header.size(), {table, chain, line}});
    } else {
      f.header.push_back(line);
    }
  }
  return f;
}

// The file with only the given rules (in their places), and only the given tables.
std::string compose(const IptFile& f, const std::vector<bool>& keep, const std::set<std::string>& tables) {
  std::string out, table;
  size_t r = 0;
  for (size_t h = 0; h <= f.header.size(); ++h) {
    for (; r < f.rules.size() && f.rules[r].first == h; ++r)
      if (keep[r] && tables.contains(f.rules[r].second.table)) out += f.rules[r].second.line + "\n";
    if (h == f.header.size()) break;
    if (f.header[h].starts_with("*")) table = f.header[h].substr(1);
    if (tables.contains(table)) out += f.header[h] + "\n";
  }
  return out;
}

// Words of a saved rule as a shell would split them (iptables-save quotes with "...").
std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false, quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      cur += s[++i];
      in_word = true;
    } else if (c == '"') {
      quoted = !quoted;
      in_word = true;
    } else if (!quoted && (c == ' ' || c == '\t')) {
      if (in_word) out.push_back(std::exchange(cur, {}));
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

std::string hook_of(const std::string& chain) {
  for (const char* h : {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})
    if (chain == h) {
      std::string l = h;
      for (char& c : l) c = static_cast<char>(std::tolower(c));
      return l;
    }
  return "";
}

std::string without_comments(const std::string& s) {
  std::istringstream in(s);
  std::string line, out;
  while (std::getline(in, line))
    if (!line.starts_with("#")) out += line + "\n";
  return out;
}

}  // namespace

Result<Prepared> prepare_ipt(ScratchNet& net, Sides& sides, const VerifyOptions& opt, bool v6) {
  Prepared p;
  p.sentinel = false;
  const auto K = Side::kKernel, N = Side::kNfbpf;
  const std::string base = v6 ? "ip6tables-legacy" : "iptables-legacy";
  const std::string fam = v6 ? "ip6" : "ip";
  std::ifstream in(opt.ruleset_path);
  std::stringstream ss;
  ss << in.rdbuf();
  const IptFile file = parse_save(ss.str());

  if (auto r = sides.checked(K, {base + "-restore"}, ss.str()); !r)
    return failf(EINVAL, "the kernel refuses the ruleset: {}", r.error().msg);
  auto k_text = sides.checked(K, {base + "-save"});
  if (!k_text) return std::unexpected(std::move(k_text).error());
  for (const auto& [at, r] : file.rules) {
    (void)at;
    size_t index = 0;
    for (const auto& row : p.rules)
      if (row.key.starts_with(fmt::format("{} {} {}#", fam, r.table, r.chain))) ++index;
    p.rules.push_back({fmt::format("{} {} {}#{}", fam, r.table, r.chain, index), r.line, hook_of(r.chain), true, {}});
  }

  if (opt.probes) {
    // The nft translation of the file, in a namespace of its own, gives the boundaries.
    auto tr = run({"iptables-restore-translate", "-f", opt.ruleset_path}, RunOptions{});
    if (v6) tr = run({"ip6tables-restore-translate", "-f", opt.ruleset_path}, RunOptions{});
    auto pns = net.extra_ns();
    if (tr && tr->status == 0 && pns) {
      auto loaded = run({"nft", "-f", "-"}, RunOptions{.netns_fd = pns->get(), .stdin_text = tr->out});
      if (loaded && loaded->status == 0) {
        std::vector<std::pair<std::string, std::string>> tables;
        for (const auto& h : file.header)
          if (h.starts_with("*")) tables.emplace_back(fam, h.substr(1));
        p.probes = probes_in_ns(net, pns->get(), tables, opt.max_set_elements, p.notes);
      } else {
        p.notes.push_back("no boundary probes: the nft translation does not load: " + (loaded ? loaded->err : std::string()));
      }
    } else {
      p.notes.push_back("no boundary probes: iptables-restore-translate failed: " + (tr ? tr->err : std::string()));
    }
  }

  size_t log_off = sides.log_size();
  auto n_load = sides.cmd(N, {base + "-restore"}, ss.str());
  if (!n_load) return std::unexpected(std::move(n_load).error());
  std::vector<bool> keep(file.rules.size(), true);
  if (n_load->status == 0) {
    auto n_text = sides.checked(N, {base + "-save"});
    if (!n_text) return std::unexpected(std::move(n_text).error());
    p.listing_diff = first_difference(without_comments(*k_text), without_comments(*n_text));
    p.listing_identical = p.listing_diff.empty();
  } else {
    if (!sides.daemon_alive()) NFBPF_TRYV(sides.restart_daemon());
    p.load_refusal = sides.refusal_reason(log_off, n_load->err);
    // Table by table: with its rules; else alone, then rule by rule; else refused as a whole.
    std::set<std::string> tables, loaded;
    for (const auto& h : file.header)
      if (h.starts_with("*")) tables.insert(h.substr(1));
    const std::vector<bool> none(file.rules.size(), false);
    for (const auto& t : tables) {
      if (interrupted()) return failf(EINTR, "interrupted");
      log_off = sides.log_size();
      auto with_rules = sides.cmd(N, {base + "-restore", "--noflush"}, compose(file, keep, {t}));
      if (!with_rules) return std::unexpected(std::move(with_rules).error());
      if (with_rules->status == 0) {
        loaded.insert(t);
        continue;
      }
      if (!sides.daemon_alive()) NFBPF_TRYV(sides.restart_daemon());
      log_off = sides.log_size();
      auto alone = sides.cmd(N, {base + "-restore", "--noflush"}, compose(file, none, {t}));
      if (!alone) return std::unexpected(std::move(alone).error());
      if (alone->status != 0) {
        if (!sides.daemon_alive()) NFBPF_TRYV(sides.restart_daemon());
        const std::string why = sides.refusal_reason(log_off, alone->err);
        p.notes.push_back(fmt::format("table {} refused by nfbpfd: {}", t, why));
        for (size_t i = 0; i < file.rules.size(); ++i)
          if (file.rules[i].second.table == t) {
            keep[i] = false;
            p.rules[i].offloaded = false;
            p.rules[i].reason = fmt::format("its table {} is refused: {}", t, why);
          }
        continue;
      }
      loaded.insert(t);
      for (size_t i = 0; i < file.rules.size(); ++i) {
        if (file.rules[i].second.table != t) continue;
        if (interrupted()) return failf(EINTR, "interrupted");
        std::vector<std::string> argv = {base, "-t", t};
        for (auto& w : split_words(file.rules[i].second.line)) argv.push_back(std::move(w));
        log_off = sides.log_size();
        auto one = sides.cmd(N, argv);
        if (!one) return std::unexpected(std::move(one).error());
        if (one->status == 0) continue;
        keep[i] = false;
        p.rules[i].offloaded = false;
        p.rules[i].reason = sides.refusal_reason(log_off, one->err);
        if (!sides.daemon_alive()) {
          p.rules[i].reason = "nfbpfd died: " + p.rules[i].reason;
          NFBPF_TRYV(sides.restart_daemon());
          NFBPF_TRYV(sides.checked(N, {base + "-restore"}, compose(file, keep, loaded)));
        }
      }
    }
    if (loaded.empty()) {
      p.nothing_loaded = true;
      return p;
    }
    // The kernel side holds the same: accepted rules of the accepted tables, the others emptied.
    std::string k_file = compose(file, keep, loaded);
    for (const auto& t : tables)
      if (!loaded.contains(t)) k_file += "*" + t + "\nCOMMIT\n";
    if (auto r = sides.checked(K, {base + "-restore"}, k_file); !r)
      return failf(EIO, "the kernel refuses the accepted rules: {}", r.error().msg);
  }
  NFBPF_TRYV(sides.check_no_bypass());
  for (const auto& row : p.rules)
    if (row.offloaded && (row.hook == "forward" || row.hook == "postrouting")) p.forward_path = true;
  // Output chains: everything is sent once more from the sides' own stacks (locally originated).
  for (const auto& row : p.rules)
    if (row.offloaded && (row.hook == "output" || row.hook == "OUTPUT")) p.output_path = true;
  p.counters = keyed_by_rule([&sides, base, fam](Side s) -> Result<Counters> {
    auto t = sides.checked(s, {base + "-save", "-c"});
    if (!t) return std::unexpected(std::move(t).error());
    Counters c;
    std::map<std::string, size_t> pos;
    std::istringstream lines(*t);
    std::string line, table;
    while (std::getline(lines, line)) {
      if (line.starts_with("*")) table = line.substr(1);
      unsigned long long pk = 0, by = 0;
      char chain[64] = {};
      if (std::sscanf(line.c_str(), "[%llu:%llu] -A %63s", &pk, &by, chain) == 3) {
        const std::string prefix = fmt::format("{} {} {}", fam, table, chain);
        c[fmt::format("{}#{}", prefix, pos[prefix]++)] = {pk, by};
      }
    }
    return c;
  }, p.rules);
  return p;
}

}  // namespace nfbpf::verify
