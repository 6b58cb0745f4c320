#include "nfnl-server/cli/verify/engine.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/format.h"
#include "nfnl-server/cli/verify/prepared.h"
#include "nfnl-server/cli/verify/replay.h"
#include "nfnl-server/cli/verify/scratch_net.h"
#include "nfnl-server/cli/verify/work_dir.h"

namespace nfbpf::verify {

namespace {

using json = nlohmann::json;

json error_report(const VerifyOptions& opt, const std::string& why) {
  return {{"ruleset", opt.ruleset_path}, {"status", "error"}, {"error", why}, {"exit", 2}};
}

std::string tail_of_file(const std::string& path, size_t max) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

json pair_json(const Counters& c, const std::string& key) {
  auto it = c.find(key);
  return it == c.end() ? json{0, 0} : json{it->second.first, it->second.second};
}

Result<RulesetFormat> ruleset_format(const VerifyOptions& opt) {
  std::ifstream in(opt.ruleset_path);
  if (!in) return failf(ENOENT, "cannot read {}", opt.ruleset_path);
  std::stringstream text;
  text << in.rdbuf();
  if (opt.format.empty()) return detect_format(text.str());
  if (auto f = parse_format(opt.format)) return *f;
  return failf(EINVAL, "unknown format '{}' (nft, iptables, ip6tables)", opt.format);
}

}  // namespace

json run_verify(const VerifyOptions& opt) {
  if (auto f = ruleset_format(opt); !f) return error_report(opt, f.error().msg);
  if (geteuid() != 0) return error_report(opt, "verify needs root (network namespaces, BPF)");

  auto work = WorkDir::create();
  if (!work) return error_report(opt, work.error().describe());
  auto net = ScratchNet::create(opt.in_dev, opt.out_dev);
  if (!net) return error_report(opt, "scratch namespaces: " + net.error().describe());
  Sides sides(*net, locate_tools(opt.tools), work->path(), opt.daemon_env, opt.offload);
  if (auto s = sides.start_daemon(); !s) return error_report(opt, s.error().describe());
  return verify_on(*net, sides, opt);
}

json verify_on(ScratchNet& net, Sides& sides, const VerifyOptions& opt) {
  auto fmt_or = ruleset_format(opt);
  if (!fmt_or) return error_report(opt, fmt_or.error().msg);
  const RulesetFormat format = *fmt_or;
  auto prep = format == RulesetFormat::kNft ? prepare_nft(net, sides, opt)
                                            : prepare_ipt(net, sides, opt, format == RulesetFormat::kIp6tables);
  if (!prep) {
    json r = error_report(opt, prep.error().describe());
    r["nfbpfd_log_tail"] = tail_of_file(sides.log_path(), 2000);
    return r;
  }
  json report = {{"ruleset", opt.ruleset_path}, {"format", format_name(format)}};
  report["listing_identical"] = prep->listing_identical;
  if (!prep->listing_diff.empty()) report["listing_difference"] = prep->listing_diff;
  if (!prep->load_refusal.empty()) report["load_refusal"] = prep->load_refusal;
  report["notes"] = prep->notes;
  if (auto st = sides.status()) report["nfbpfd_status"] = *st;

  ReplayResult rr;
  if (!prep->nothing_loaded) {
    auto r = replay(net, *prep, opt);
    if (!r) {
      json e = error_report(opt, "sending packets: " + r.error().describe());
      e["nfbpfd_log_tail"] = tail_of_file(sides.log_path(), 2000);
      return e;
    }
    rr = std::move(*r);
  }
  json rules = json::array();
  size_t offloaded = 0, refused = 0, differ = 0, exercised = 0;
  std::map<std::string, size_t> runs;  // hybrid: rules per placement
  for (const auto& row : prep->rules) {
    json j = {{"key", row.key}, {"text", row.text}, {"hook", row.hook}, {"offloaded", row.offloaded}};
    if (!row.runs.empty()) {
      j["runs"] = row.runs;
      ++runs[row.runs];
    }
    if (!row.offloaded) {
      j["reason"] = row.reason;
      ++refused;
    } else {
      ++offloaded;
      j["kernel"] = pair_json(rr.kernel, row.key);
      j["nfbpf"] = pair_json(rr.nfbpf, row.key);
      j["equal"] = j["kernel"] == j["nfbpf"];
      if (!j["equal"].get<bool>()) ++differ;
      if (j["kernel"][0].get<uint64_t>() > 0 || j["nfbpf"][0].get<uint64_t>() > 0) ++exercised;
    }
    rules.push_back(std::move(j));
  }
  report["rules"] = rules;
  report["summary"] = {{"rules", prep->rules.size()}, {"offloaded", offloaded}, {"refused", refused},
                       {"counters_differ", differ}, {"exercised", exercised}};
  report["offload_mode"] = sides.offload();
  if (!runs.empty()) report["summary"]["runs"] = runs;
  report["packets"] = {{"probes", rr.probes}, {"generic", rr.generic}, {"pcap", rr.pcap},
                       {"pcap_records", rr.pcap_read}, {"pcap_skipped", rr.pcap_skipped},
                       {"pcap_truncated", rr.pcap_truncated}, {"differing_chunks", rr.differing_chunks},
                       {"arrived_kernel", pair_json(rr.kernel, kArrivalKey)[0]},
                       {"accepted_kernel", pair_json(rr.kernel, kAcceptedKey)[0]},
                       {"accepted_nfbpf", pair_json(rr.nfbpf, kAcceptedKey)[0]},
                       {"forwarded_kernel", pair_json(rr.kernel, kForwardedKey)[0]},
                       {"forwarded_nfbpf", pair_json(rr.nfbpf, kForwardedKey)[0]},
                       {"output_accepted_kernel", pair_json(rr.kernel, kOutputAcceptedKey)[0]},
                       {"output_accepted_nfbpf", pair_json(rr.nfbpf, kOutputAcceptedKey)[0]},
                       {"output_unsendable", rr.local_unsendable}, {"paths", rr.paths}};
  report["mismatches"] = rr.mismatches;
  json ck = json::object(), cn = json::object();
  for (const auto& [k, v] : rr.kernel) ck[k] = {v.first, v.second};
  for (const auto& [k, v] : rr.nfbpf) cn[k] = {v.first, v.second};
  report["counters"] = {{"kernel", ck}, {"nfbpf", cn}};
  const bool mismatch = rr.differing_chunks > 0 || differ > 0;
  const bool refusals = refused > 0 || !prep->load_refusal.empty() || prep->nothing_loaded;
  report["status"] = mismatch ? "mismatch" : refusals ? "refused" : !prep->listing_identical ? "listing-differs" : "equal";
  report["exit"] = (mismatch || refusals || !prep->listing_identical) ? 1 : 0;
  return report;
}

}  // namespace nfbpf::verify
