#include "nfnl-server/cli/verify/experiment.h"

#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/prepared.h"
#include "nfnl-server/cli/verify/probe_set.h"
#include "nfnl-server/cli/verify/replay.h"

namespace nfbpf::verify {

namespace {

using json = nlohmann::json;

struct Step {
  std::string stage;
  std::vector<std::vector<std::string>> argvs;  // one, or the alternatives in order
  std::string stdin_text;
};

std::vector<Step> parse_steps(const json& steps) {
  std::vector<Step> out;
  for (const auto& s : steps) {
    Step st{s.value("stage", "setup"), {}, s.value("stdin", "")};
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
  auto flush = sides.cmd(side, {"nft", "flush", "ruleset"});
  if (!flush) return std::unexpected(std::move(flush).error());
  chosen.resize(steps.size(), -1);
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    std::string last_err;
    bool ok = false;
    for (size_t a = 0; a < st.argvs.size() && !ok; ++a) {
      if (chosen[i] >= 0 && static_cast<size_t>(chosen[i]) != a) continue;
      std::vector<std::string> argv = {"nft"};
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
Result<std::vector<Packet>> experiment_probes(ScratchNet& net, const json& targets, size_t max_set_elements) {
  std::vector<Packet> out;
    NFBPF_TRYV(net.in_ns(net.ns(Side::kKernel), [&]() -> Result<void> {
    std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> nl(mnl_socket_open(NETLINK_NETFILTER), mnl_socket_close);
    if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return fail_errno("netlink socket");
    for (const auto& t : targets) {
      const auto fam = t.at(0).get<std::string>(), name = t.at(1).get<std::string>(), chain = t.at(2).get<std::string>();
      auto dumped = dump_table(nl.get(), nfproto_from_name(fam), name, /*skip_refused=*/false);
      if (!dumped) return failf(dumped.error().err, "{} {}: {}", fam, name, dumped.error().describe());
      ProbeRequest req{.chain = chain, .in_dev = net.in_dev(), .in_ifindex = kRecvIfindex, .max_set_elements = max_set_elements};
      std::copy(kRecvMac, kRecvMac + 6, req.dst_mac.begin());
      auto probes = table_probes(dumped->table, req);
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
  if (auto p = net.set_path(ScratchNet::Path::kPreroutingOnly); !p) return harness_error(p.error().describe());

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
  if (req.value("placements", false))
    if (auto st = sides.status(); st && st->contains("placement")) res["placements"] = (*st)["placement"];

  auto probes = experiment_probes(net, req.value("probes", json::array()), req.value("max_set_elements", size_t{16}));
  if (!probes) {
    if (res.value("placement", "") == "kernel") {
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
  const bool whole = req.value("counters", json()) == "ruleset";
  std::vector<std::string> list_args = {"nft", "-j", "list", "ruleset"};
  if (!whole) list_args = {"nft", "-j", "list", "table", req["counters"].at(0), req["counters"].at(1)};
  prep.counters = [&sides, list_args, whole](Side s) -> Result<Counters> {
    auto text = sides.checked(s, list_args);
    if (!text) return std::unexpected(std::move(text).error());
    return all_counters(*text, whole);
  };
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
