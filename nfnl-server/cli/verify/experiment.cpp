#include "nfnl-server/cli/verify/experiment.h"

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/ipt_probes.h"
#include "nfnl-server/cli/verify/prepared.h"
#include "nfnl-server/cli/verify/probe_set.h"
#include "nfnl-server/cli/verify/replay.h"
#include "nfnl-server/cli/verify/reply_capture.h"
#include "nfnl-server/cli/verify/xt_state.h"

namespace nfbpf::verify {

namespace {

using json = nlohmann::json;

struct Step {
  std::string stage;
  std::string program;                          // nft (default), iptables-legacy, sh, ...
  std::vector<std::vector<std::string>> argvs;  // one, or the alternatives in order
  std::string stdin_text;
};

std::vector<Step> parse_steps(const json& steps) {
  std::vector<Step> out;
  for (const auto& s : steps) {
    Step st{s.value("stage", "setup"), s.value("program", "nft"), {}, s.value("stdin", "")};
    if (s.contains("alternatives"))
      for (const auto& a : s["alternatives"]) st.argvs.push_back(a.get<std::vector<std::string>>());
    else
      st.argvs.push_back(s.value("args", std::vector<std::string>{"-f", "-"}));
    out.push_back(std::move(st));
  }
  return out;
}

struct LoadFailure {
  std::string stage, detail;
};

// Flushes a side and runs the steps; `chosen` picks the alternative of each step (-1: the first
// that succeeds, recorded). nullopt when everything loaded.
Result<std::optional<LoadFailure>> load(Sides& sides, Side side, const std::vector<Step>& steps, std::vector<int>& chosen) {
  NFBPF_TRYV(sides.flush(side));
  chosen.resize(steps.size(), -1);
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    std::string last_err;
    bool ok = false;
    for (size_t a = 0; a < st.argvs.size() && !ok; ++a) {
      if (chosen[i] >= 0 && static_cast<size_t>(chosen[i]) != a) continue;
      std::vector<std::string> argv = {st.program};
      argv.insert(argv.end(), st.argvs[a].begin(), st.argvs[a].end());
      auto r = sides.cmd(side, argv, st.stdin_text);
      if (!r) return std::unexpected(std::move(r).error());
      if (r->status == 0) {
        ok = true;
        chosen[i] = static_cast<int>(a);
      } else {
        last_err = r->err;
      }
    }
    if (!ok) return LoadFailure{st.stage, last_err};
  }
  return std::nullopt;
}

std::string trimmed(const std::string& s, size_t max) {
  const auto b = s.find_first_not_of(" \n\t"), e = s.find_last_not_of(" \n\t");
  const std::string t = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  return t.substr(0, max);
}

// The probes of the requested rules, from what the kernel side holds. Unlike verify's own probes
// (probes_in_ns), any rule the translator refuses is an error here: the experiment has one rule.
// `skipped` (when given): a table whose probes cannot be made is named there and left out instead
// of failing the whole request (--replies dumps: the other tables' probes still run).
Result<std::vector<Packet>> experiment_probes(ScratchNet& net, const json& targets, size_t max_set_elements,
                                              std::vector<std::string>* skipped = nullptr) {
  std::vector<Packet> out;
    NFBPF_TRYV(net.in_ns(net.ns(Side::kKernel), [&]() -> Result<void> {
    std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> nl(mnl_socket_open(NETLINK_NETFILTER), mnl_socket_close);
    if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return fail_errno("netlink socket");
    for (const auto& t : targets) {
      const auto fam = t.at(0).get<std::string>(), name = t.at(1).get<std::string>(), chain = t.at(2).get<std::string>();
      auto dumped = dump_table(nl.get(), nfproto_from_name(fam), name, /*skip_refused=*/false);
      if (!dumped && skipped) {
        skipped->push_back(trimmed(fmt::format("{} {}: {}", fam, name, dumped.error().describe()), 200));
        continue;
      }
      if (!dumped) return failf(dumped.error().err, "{} {}: {}", fam, name, dumped.error().describe());
      ProbeRequest req{.chain = chain, .in_dev = net.in_dev(), .in_ifindex = kRecvIfindex, .max_set_elements = max_set_elements};
      std::copy(kRecvMac, kRecvMac + 6, req.dst_mac.begin());
      auto probes = table_probes(dumped->table, req);
      if (!probes && skipped) {
        skipped->push_back(trimmed(fmt::format("{} {}: no probes: {}", fam, name, probes.error().describe()), 200));
        continue;
      }
      if (!probes) return failf(probes.error().err, "{} {}: no probes: {}", fam, name, probes.error().describe());
      // As rule_probes made them: no checksum filled in, no SYN added (probes vary TCP flags
      // and other header bits; verify's own probes are made "realistic" for conntrack instead).
      for (auto& p : *probes) {
        out.push_back({std::move(p.frame), chain == "*" ? fmt::format("{} {}: {}", fam, name, p.what) : p.what, p.expect_match});
      }
    }
    return {};
  }));
  return out;
}

// The probes of an x_tables table the kernel side holds ([family, table]), as nfbpfd's legacy
// offload lowers it.
Result<std::vector<Packet>> xt_probes(ScratchNet& net, const json& target, size_t max_set_elements) {
  std::vector<Packet> out;
  const bool v6 = target.at(0).get<std::string>() == "ip6";
  const std::string table = target.at(1).get<std::string>();
  NFBPF_TRYV(net.in_ns(net.ns(Side::kKernel), [&]() -> Result<void> {
    ProbeRequest req{.chain = "*", .in_dev = net.in_dev(), .in_ifindex = kRecvIfindex, .max_set_elements = max_set_elements};
    std::copy(kRecvMac, kRecvMac + 6, req.dst_mac.begin());
    auto probes = xt_table_probes(v6, table, req);
    if (!probes) return std::unexpected(std::move(probes).error());
    for (auto& p : *probes) out.push_back({std::move(p.frame), p.what, p.expect_match});
    return {};
  }));
  return out;
}

// Probes for a rule's matches alone (a nat or reject statement cut off by the harness), made in a
// namespace of their own from a regular chain holding just that: the translator refuses the whole
// rule, but its matches still say which packets should be NAT'd or rejected.
Result<std::vector<Packet>> match_probes(ScratchNet& net, const json& fallback, size_t max_set_elements) {
  const std::string fam = fallback.value("family", ""), rule = fallback.value("rule", "");
  if (fam.empty() || rule.empty()) return failf(EINVAL, "probe_fallback needs a family and a rule");
  auto ns = net.extra_ns();
  if (!ns) return std::unexpected(std::move(ns).error());
  const std::string text = fmt::format("add table {0} nfbpf_probe_src\nadd chain {0} nfbpf_probe_src probe\n"
                                       "add rule {0} nfbpf_probe_src probe {1}\n", fam, rule);
  auto loaded = run({"nft", "-f", "-"}, RunOptions{.netns_fd = ns->get(), .stdin_text = text});
  if (!loaded) return std::unexpected(std::move(loaded).error());
  if (loaded->status != 0) return failf(EINVAL, "the matches alone do not load: {}", trimmed(loaded->err, 200));
  std::vector<Packet> out;
  NFBPF_TRYV(net.in_ns(ns->get(), [&]() -> Result<void> {
    std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> nl(mnl_socket_open(NETLINK_NETFILTER), mnl_socket_close);
    if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return fail_errno("netlink socket");
    auto dumped = dump_table(nl.get(), nfproto_from_name(fam), "nfbpf_probe_src", /*skip_refused=*/false);
    if (!dumped) return std::unexpected(std::move(dumped).error());
    ProbeRequest req{.chain = "probe", .in_dev = net.in_dev(), .in_ifindex = kRecvIfindex, .max_set_elements = max_set_elements};
    std::copy(kRecvMac, kRecvMac + 6, req.dst_mac.begin());
    auto probes = table_probes(dumped->table, req);
    if (!probes) return std::unexpected(std::move(probes).error());
    for (auto& p : *probes) out.push_back({std::move(p.frame), p.what, p.expect_match});
    return {};
  }));
  return out;
}

std::optional<ScratchNet::Path> path_named(const std::string& name) {
  if (name == "prerouting-only") return ScratchNet::Path::kPreroutingOnly;
  if (name == "forward") return ScratchNet::Path::kForward;
  if (name == "replies") return ScratchNet::Path::kReplies;
  return std::nullopt;
}

json hex_frames(const std::vector<std::vector<uint8_t>>& frames) {
  json out = json::array();
  for (const auto& f : frames) {
    std::string h;
    h.reserve(f.size() * 2);
    for (uint8_t b : f) h += fmt::format("{:02x}", b);
    out.push_back(std::move(h));
  }
  return out;
}

std::string placement_of(Sides& sides, const json& chain) {
  auto st = sides.status();
  if (!st || !st->contains("placement")) return "";
  for (const auto& p : (*st)["placement"])
    if (p.value("family", "") == chain.at(0) && p.value("table", "") == chain.at(1) && p.value("chain", "") == chain.at(2))
      return p.value("where", "");
  return "";
}

json counters_json(const Counters& c) {
  json j = json::object();
  for (const auto& [k, v] : c) j[k] = {v.first, v.second};
  return j;
}

}  // namespace

Result<Counters> all_counters(const std::string& json_listing, bool with_table) {
  json j = json::parse(json_listing, nullptr, false);
  if (j.is_discarded() || !j.contains("nftables")) return failf(EINVAL, "nft -j list: not JSON");
  Counters out;
  std::map<std::string, size_t> pos;
  for (const auto& item : j["nftables"]) {
    if (!item.contains("rule")) continue;
    const auto& r = item["rule"];
    const std::string chain = with_table ? fmt::format("{} {} {}", r.value("family", ""), r.value("table", ""),
                                                       r.value("chain", ""))
                                         : r.value("chain", "");
    const size_t i = pos[chain]++;
    size_t nth = 0;
    for (const auto& e : r.value("expr", json::array()))
      if (e.is_object() && e.contains("counter") && e["counter"].is_object() && e["counter"].contains("packets"))
        out[fmt::format("{}#{}.{}", chain, i, nth++)] = {e["counter"]["packets"].get<uint64_t>(),
                                                         e["counter"]["bytes"].get<uint64_t>()};
  }
  return out;
}

json run_experiment(ScratchNet& net, Sides& sides, const json& req) {
  json res = json::object();
  auto harness_error = [&](const std::string& why) {
    res["status"] = "harness-error";
    res["detail"] = trimmed(why, 300);
    return res;
  };
  const auto steps = parse_steps(req.value("load", json::array()));
  const auto n_steps = req.contains("nfbpf_load") ? parse_steps(req["nfbpf_load"]) : steps;
  if (n_steps.size() != steps.size()) return harness_error("nfbpf_load must have as many steps as load");
  const auto path = path_named(req.value("path", "prerouting-only"));
  if (!path) return harness_error("path: prerouting-only, forward or replies");
  if (auto p = net.set_path(*path); !p) return harness_error(p.error().describe());

  std::vector<int> chosen;
  auto k = load(sides, Side::kKernel, steps, chosen);
  if (!k) return harness_error(k.error().describe());
  if (*k) {
    res["status"] = "kernel-refused";
    res["stage"] = (*k)->stage;
    res["detail"] = trimmed((*k)->detail, 300);
    return res;
  }
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].argvs.size() > 1) res["alternative"] = chosen[i];

  if (!sides.daemon_alive())
    if (auto r = sides.restart_daemon(); !r) return harness_error(r.error().describe());
  const size_t log_off = sides.log_size();
  auto n = load(sides, Side::kNfbpf, n_steps, chosen);
  if (!n) return harness_error(n.error().describe());
  if (*n) {
    if (!sides.daemon_alive()) {
      res["status"] = "daemon-died";
      if (auto r = sides.restart_daemon(); !r) return harness_error(r.error().describe());
      return res;
    }
    res["status"] = "refused";
    res["stage"] = (*n)->stage;
    res["detail"] = sides.refusal_reason(log_off, (*n)->detail).substr(0, 400);
    return res;
  }
  if (req.contains("placement")) res["placement"] = placement_of(sides, req["placement"]);
  if (req.contains("legacy_placement"))
    res["placement"] = sides.legacy_placement(req["legacy_placement"].at(0), req["legacy_placement"].at(1));
  if (req.value("placements", false))
    if (auto st = sides.status(); st && st->contains("placement")) res["placements"] = (*st)["placement"];

  const size_t max_elems = req.value("max_set_elements", size_t{16});
  std::vector<std::string> skipped;
  auto probes = req.contains("xt_probes")
                    ? xt_probes(net, req["xt_probes"], max_elems)
                    : experiment_probes(net, req.value("probes", json::array()), max_elems,
                                        req.value("tolerate_probe_failures", false) ? &skipped : nullptr);
  if (!skipped.empty()) res["generic_only_tables"] = skipped;
  if (!probes && req.contains("probe_fallback")) {
    // A nat or reject rule: the translator refuses it whole; its matches alone still make probes.
    if (auto m = match_probes(net, req["probe_fallback"], max_elems); m && !m->empty()) {
      probes = std::move(m);
      res["match_only_probes"] = true;
    }
  }
  if (!probes) {
    if (res.value("placement", "") == "kernel" || req.value("generic_only_ok", false)) {
      // The translator refuses what placed the chain in the kernel (nat, reject): the generic
      // packets still compare both sides.
      res["generic_only"] = trimmed(probes.error().describe(), 200);
      probes = std::vector<Packet>{};
    } else {
      res["status"] = "no-probes";
      res["detail"] = trimmed(probes.error().describe(), 300);
      return res;
    }
  }
  res["rule_probes"] = probes->size();

  Prepared prep;
  prep.probes = std::move(*probes);
  prep.sentinel_key = req.value("sentinel_key", "");
  prep.realistic = false;
  prep.fresh_counters = true;  // both sides were flushed and loaded above
  if (req.value("sentinel", "ipv4") == "ipv6") prep.sentinel_packet = sentinel_frame_v6();
  // Counters: the nft listing (one table, or the whole ruleset keyed with the table), plus one
  // x_tables table's rules and policies (`TOOL-save -c`), less the keys the harness ignores.
  std::vector<std::string> list_args = {"nft", "-j", "list", "ruleset"};
  const bool whole = req.value("counters", json()) == "ruleset";
  if (!whole) list_args = {"nft", "-j", "list", "table", req["counters"].at(0), req["counters"].at(1)};
  std::vector<std::string> xt_args;
  std::string xt_table;
  if (req.contains("xt_counters")) {
    xt_table = req["xt_counters"].at(1).get<std::string>();
    xt_args = {req["xt_counters"].at(0).get<std::string>() + "-save", "-c", "-t", xt_table};
  }
  std::set<std::string> ignored = req.value("ignore", std::set<std::string>{});
  ignored.erase(prep.sentinel_key);  // settling needs it; replay leaves it out of the comparison
  prep.counters = [&sides, list_args, whole, xt_args, xt_table, ignored](Side s) -> Result<Counters> {
    auto text = sides.checked(s, list_args);
    if (!text) return std::unexpected(std::move(text).error());
    auto c = all_counters(*text, whole);
    if (!c) return c;
    if (!xt_args.empty()) {
      auto saved = sides.checked(s, xt_args);
      if (!saved) return std::unexpected(std::move(saved).error());
      c->merge(save_counters(*saved, xt_table));
    }
    for (const auto& key : ignored) c->erase(key);
    return c;
  };
  std::optional<ReplyCapture> capture;
  if (req.contains("replies")) {
    auto cap = ReplyCapture::open(net);
    if (!cap) return harness_error("reply capture: " + cap.error().describe());
    capture = std::move(*cap);
    capture->drain();  // what the sides sent before (nothing expected) is not this experiment's
  }
  VerifyOptions opt;
  opt.max_named = req.value("max_named", size_t{5});
  auto rr = replay(net, prep, opt);
  if (!rr) {
    if (!sides.daemon_alive()) (void)sides.restart_daemon();
    return harness_error("sending packets: " + rr.error().describe());
  }
  res["probes"] = rr->probes + rr->generic;
  const std::string arrival = req.value("arrival_key", "");
  res["arrived"] = rr->kernel.contains(arrival) ? rr->kernel.at(arrival).first : 0;
  res["kernel"] = counters_json(rr->kernel);
  if (capture) {
    // Replies are sent while the packets are processed, before the sentinel is counted: only the
    // last hop back to the sender is waited for.
    const json& rq = req["replies"];
    auto got = capture->collect(std::chrono::milliseconds(rq.value("quiet_ms", 30)),
                                std::chrono::milliseconds(rq.value("max_ms", 1000)), rq.value("max_frames", size_t{20000}));
    res["replies"] = {{"kernel", hex_frames(got.kernel)}, {"nfbpf", hex_frames(got.nfbpf)}};
    if (got.truncated) res["replies"]["truncated"] = true;
  }
  if (rr->differing_chunks == 0) {
    res["status"] = "equal";
    return res;
  }
  res["status"] = "mismatch";
  res["nfbpf"] = counters_json(rr->nfbpf);
  json named = json::array();
  for (const auto& m : rr->mismatches) {
    json p = {{"probe", m["source"]}, {"frame", m["frame"]}, {"kernel", m["kernel"]["counters"]},
              {"nfbpf", m["nfbpf"]["counters"]}};
    p["evaluator_expects_match"] = m.value("evaluator_expects_match", false);
    named.push_back(std::move(p));
  }
  res["differing_probes"] = named;
  return res;
}

}  // namespace nfbpf::verify
