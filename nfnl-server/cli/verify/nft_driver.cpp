// nft rulesets: load the file on both sides, compare listings, then load the instrumented copy
// (nft_ruleset.h) — as one batch when nfbpfd accepts it, else rule by rule so that each refused
// rule is named with nfbpfd's reason and the others still run. The kernel side then holds exactly
// the rules nfbpfd accepted, so that the packets compare like with like.
#include <cerrno>
#include <sstream>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/prepared.h"
#include "nfnl-server/cli/verify/probe_set.h"

namespace nfbpf::verify {

std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream ia(a), ib(b);
  std::string la, lb;
  for (int n = 1;; ++n) {
    const bool ga = static_cast<bool>(std::getline(ia, la)), gb = static_cast<bool>(std::getline(ib, lb));
    if (!ga && !gb) return {};
    if (!ga || !gb || la != lb)
      return fmt::format("line {}: kernel «{}» / nfbpf «{}»", n, ga ? la : "(end)", gb ? lb : "(end)");
  }
}

std::vector<Packet> probes_in_ns(ScratchNet& net, int ns, const std::vector<std::pair<std::string, std::string>>& tables,
                                 size_t max_set_elements, std::vector<std::string>& notes) {
  std::vector<Packet> out;
  auto done = net.in_ns(ns, [&]() -> Result<void> {
    std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> nl(mnl_socket_open(NETLINK_NETFILTER), mnl_socket_close);
    if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return fail_errno("netlink socket");
    for (const auto& [fam, name] : tables) {
      auto t = dump_table(nl.get(), nfproto_from_name(fam), name, /*skip_refused=*/true);
      if (!t) {
        notes.push_back(fmt::format("no boundary probes for table {} {}: {}", fam, name, t.error().describe()));
        continue;
      }
      for (const auto& r : t->refused)
        notes.push_back(fmt::format("no boundary probes for {} {} {} handle {}: {}", fam, name, r.chain, r.handle, r.reason));
      ProbeRequest req{.chain = "*", .in_dev = net.in_dev(), .in_ifindex = kRecvIfindex, .max_set_elements = max_set_elements};
      std::copy(kRecvMac, kRecvMac + 6, req.dst_mac.begin());
      auto p = table_probes(t->table, req);
      if (!p) {
        notes.push_back(fmt::format("no boundary probes for table {} {}: {}", fam, name, p.error().describe()));
        continue;
      }
      for (auto& f : *p) {
        make_realistic(f.frame);
        out.push_back({std::move(f.frame), fmt::format("probe {} {}: {}", fam, name, f.what), f.expect_match});
      }
    }
    return {};
  });
  if (!done) notes.push_back("no boundary probes: " + done.error().describe());
  return out;
}

Result<void> mark_placement(Sides& sides, std::vector<RuleRow>& rows) {
  auto st = sides.status();
  if (!st) return std::unexpected(std::move(st).error());
  std::map<std::string, std::string> where;  // "family table chain" -> bpf / kernel / bpf+kernel
  for (const auto& c : st->value("placement", nlohmann::json::array()))
    where[fmt::format("{} {} {}", c.value("family", ""), c.value("table", ""), c.value("chain", ""))] = c.value("where", "");
  for (auto& row : rows)
    if (row.offloaded) {
      auto it = where.find(row.key.substr(0, row.key.rfind('#')));
      row.runs = it == where.end() ? "unknown" : it->second;
    }
  return {};
}

std::function<Result<Counters>(Side)> keyed_by_rule(std::function<Result<Counters>(Side)> read,
                                                    const std::vector<RuleRow>& rows) {
  std::map<std::string, std::vector<std::string>> loaded;  // "family table chain" -> keys in order
  for (const auto& r : rows)
    if (r.offloaded) loaded[r.key.substr(0, r.key.rfind('#'))].push_back(r.key);
  return [read = std::move(read), loaded = std::move(loaded)](Side s) -> Result<Counters> {
    auto c = read(s);
    if (!c) return c;
    Counters out;
    for (auto& [k, v] : *c) {
      const auto hash = k.rfind('#');
      auto it = loaded.find(k.substr(0, hash));
      const size_t i = std::stoul(k.substr(hash + 1));
      out[it != loaded.end() && i < it->second.size() ? it->second[i] : k] = v;
    }
    return out;
  };
}

Result<Prepared> prepare_nft(ScratchNet& net, Sides& sides, const VerifyOptions& opt) {
  Prepared p;
  const auto K = Side::kKernel, N = Side::kNfbpf;
  // The kernel must accept the ruleset, or there is nothing to compare against.
  if (auto r = sides.checked(K, {"nft", "-f", opt.ruleset_path}); !r)
    return failf(EINVAL, "the kernel refuses the ruleset: {}", r.error().msg);
  auto k_text = sides.checked(K, {"nft", "list", "ruleset"});
  auto k_handles = sides.checked(K, {"nft", "-a", "list", "ruleset"});
  auto k_json = sides.checked(K, {"nft", "-j", "list", "ruleset"});
  if (!k_text || !k_handles || !k_json) return failf(EIO, "cannot list the kernel side's ruleset");
  auto model = nft_model(*k_json, *k_handles, opt.out_dev);
  if (!model) return std::unexpected(std::move(model).error());
  if (opt.probes) p.probes = probes_in_ns(net, net.ns(K), model->tables, opt.max_set_elements, p.notes);

  // The file as written, on nfbpfd: accepted? listed identically?
  size_t log_off = sides.log_size();
  auto n_load = sides.cmd(N, {"nft", "-f", opt.ruleset_path});
  if (!n_load) return std::unexpected(std::move(n_load).error());
  if (n_load->status != 0) {
    if (!sides.daemon_alive()) return failf(EIO, "nfbpfd died loading the ruleset (log: {})", sides.log_path());
    p.load_refusal = sides.refusal_reason(log_off, n_load->err);
  } else {
    auto n_text = sides.checked(N, {"nft", "list", "ruleset"});
    if (!n_text) return std::unexpected(std::move(n_text).error());
    p.listing_diff = first_difference(*k_text, *n_text);
    p.listing_identical = p.listing_diff.empty();
  }

  // The instrumented copy: one batch, else the skeleton and then one rule at a time.
  for (Side s : {K, N}) NFBPF_TRYV(sides.checked(s, {"nft", "flush", "ruleset"}));
  std::vector<nlohmann::json> all = model->skeleton;
  for (const auto& r : model->rules) all.push_back(r.add);
  for (const auto& r : model->rules) p.rules.push_back({r.key(), r.text, r.hook, true, {}});
  log_off = sides.log_size();
  auto whole = sides.cmd(N, {"nft", "-j", "-f", "-"}, nft_batch(all));
  if (!whole) return std::unexpected(std::move(whole).error());
  if (whole->status != 0) {
    if (!sides.daemon_alive()) NFBPF_TRYV(sides.restart_daemon());
    NFBPF_TRYV(sides.checked(N, {"nft", "flush", "ruleset"}));
    log_off = sides.log_size();
    auto skel = sides.cmd(N, {"nft", "-j", "-f", "-"}, nft_batch(model->skeleton));
    if (!skel) return std::unexpected(std::move(skel).error());
    std::vector<nlohmann::json> skeleton = model->skeleton;
    if (skel->status != 0) {
      // Tables, chains or sets themselves are refused: find which, one object per batch, and
      // leave them (and the rules in them) out.
      NFBPF_TRYV(sides.checked(N, {"nft", "flush", "ruleset"}));
      skeleton.clear();
      std::map<std::string, std::string> refused_objects;  // "family table [chain]" -> why
      for (const auto& item : model->skeleton) {
        const auto& [kind, obj] = *item["add"].items().begin();
        const std::string table = kind == "table" ? obj.value("name", "") : obj.value("table", "");
        const std::string where = fmt::format("{} {}", obj.value("family", ""), table);
        if (refused_objects.contains(where)) continue;  // its table is refused
        log_off = sides.log_size();
        auto one = sides.cmd(N, {"nft", "-j", "-f", "-"}, nft_batch({item}));
        if (!one) return std::unexpected(std::move(one).error());
        if (one->status == 0) {
          skeleton.push_back(item);
          continue;
        }
        if (!sides.daemon_alive()) NFBPF_TRYV(sides.restart_daemon());
        const std::string why = sides.refusal_reason(log_off, one->err);
        const std::string name = kind == "table" ? where : fmt::format("{} {}", where, obj.value("name", ""));
        refused_objects[name] = why;
        p.notes.push_back(fmt::format("{} {} refused by nfbpfd: {}", kind, name, why));
        if (table == kVerifyTable) {
          p.nothing_loaded = true;  // without the sentinel table nothing can be compared
          for (auto& row : p.rules) row = {row.key, row.text, row.hook, false, "not loaded: " + why};
          return p;
        }
      }
      for (auto& row : p.rules) {
        const std::string chain = row.key.substr(0, row.key.rfind('#'));
        const std::string table = chain.substr(0, chain.rfind(' '));
        for (const auto& k : {chain, table})
          if (auto it = refused_objects.find(k); it != refused_objects.end()) {
            row.offloaded = false;
            row.reason = fmt::format("its {} {} is refused: {}", k == chain ? "chain" : "table", k, it->second);
            break;
          }
      }
    }
    all = skeleton;
    for (size_t i = 0; i < model->rules.size(); ++i) {
      if (interrupted()) return failf(EINTR, "interrupted");
      if (!p.rules[i].offloaded) continue;  // its chain or table is refused
      log_off = sides.log_size();
      auto one = sides.cmd(N, {"nft", "-j", "-f", "-"}, nft_batch({model->rules[i].add}));
      if (!one) return std::unexpected(std::move(one).error());
      if (one->status == 0) {
        all.push_back(model->rules[i].add);
        continue;
      }
      p.rules[i].offloaded = false;
      p.rules[i].reason = sides.refusal_reason(log_off, one->err);
      if (!sides.daemon_alive()) {
        p.rules[i].reason = "nfbpfd died: " + p.rules[i].reason;
        NFBPF_TRYV(sides.restart_daemon());
        // The restarted daemon starts empty: reload what was accepted so far.
        NFBPF_TRYV(sides.checked(N, {"nft", "-j", "-f", "-"}, nft_batch(all)));
      }
    }
  }
  NFBPF_TRYV(sides.check_no_bypass());
  if (auto r = sides.checked(K, {"nft", "-j", "-f", "-"}, nft_batch(all)); !r)
    return failf(EIO, "the kernel refuses the instrumented ruleset: {}", r.error().msg);
  if (sides.offload() == "hybrid") NFBPF_TRYV(mark_placement(sides, p.rules));
  for (const auto& row : p.rules)
    if (row.offloaded && (row.hook == "forward" || row.hook == "postrouting")) p.forward_path = true;
  // Output chains: everything is sent once more from the sides' own stacks (locally originated).
  for (const auto& row : p.rules)
    if (row.offloaded && (row.hook == "output" || row.hook == "OUTPUT")) p.output_path = true;
  p.counters = keyed_by_rule(
      [&sides](Side s) -> Result<Counters> {
        auto j = sides.checked(s, {"nft", "-j", "list", "ruleset"});
        if (!j) return std::unexpected(std::move(j).error());
        return nft_counters(*j);
      },
      p.rules);
  return p;
}

}  // namespace nfbpf::verify
