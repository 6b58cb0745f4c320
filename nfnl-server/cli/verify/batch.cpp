#include "nfnl-server/cli/verify/batch.h"

#include <unistd.h>

#include <fstream>
#include <istream>
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/experiment.h"
#include "nfnl-server/cli/verify/format.h"
#include "nfnl-server/cli/verify/scratch_net.h"
#include "nfnl-server/cli/verify/work_dir.h"

namespace nfbpf::verify {

namespace {

using json = nlohmann::json;

json error(const std::string& why) { return {{"status", "error"}, {"error", why}, {"exit", 2}}; }

// Both sides empty again for the next ruleset (a dead nfbpfd is restarted empty).
Result<void> flush_both(Sides& sides) {
  NFBPF_TRYV(sides.flush(Side::kKernel));
  if (!sides.daemon_alive()) return sides.restart_daemon();
  if (auto r = sides.flush(Side::kNfbpf); !r) {
    if (!sides.daemon_alive()) return sides.restart_daemon();
    return std::unexpected(std::move(r).error());
  }
  return {};
}

json verify_request(ScratchNet& net, Sides& sides, const VerifyOptions& base, const json& req) {
  VerifyOptions opt = base;
  opt.ruleset_path = req.value("ruleset", "");
  opt.format = req.value("format", "");
  opt.pcap_path = req.value("pcap", "");
  auto bad = [&](const std::string& why) {
    return json{{"ruleset", opt.ruleset_path}, {"status", "error"}, {"error", why}, {"exit", 2}};
  };
  std::ifstream in(opt.ruleset_path);
  if (!in) return bad("cannot read " + opt.ruleset_path);
  std::stringstream text;
  text << in.rdbuf();
  const auto format = opt.format.empty() ? std::optional(detect_format(text.str())) : parse_format(opt.format);
  if (!format) return bad("unknown format '" + opt.format + "' (nft, iptables, ip6tables)");
  if (auto f = flush_both(sides); !f) return bad(f.error().describe());
  if (auto p = net.set_path(ScratchNet::Path::kLocal); !p) return bad(p.error().describe());
  return verify_on(net, sides, opt);
}

json kernel_list(Sides& sides, const json& req) {
  if (auto f = sides.cmd(Side::kKernel, {"nft", "flush", "ruleset"}); !f) return error(f.error().describe());
  auto load = sides.cmd(Side::kKernel, {"nft", "-f", req.value("file", "")});
  if (!load) return error(load.error().describe());
  if (load->status != 0) return {{"status", "kernel-refused"}, {"detail", load->err.substr(0, 300)}};
  auto listing = sides.checked(Side::kKernel, {"nft", "-j", "list", "ruleset"});
  if (!listing) return error(listing.error().describe());
  json j = json::parse(*listing, nullptr, false);
  if (j.is_discarded()) return error("the kernel side's listing is not JSON");
  return {{"status", "ok"}, {"listing", j}};
}

json one_request(ScratchNet& net, Sides& sides, const VerifyOptions& opt, const json& req) {
  const std::string kind = req.value("kind", "");
  if (kind == "experiment") return run_experiment(net, sides, req);
  if (kind == "verify") return verify_request(net, sides, opt, req);
  if (kind == "kernel-list") return kernel_list(sides, req);
  if (kind == "restart") {
    if (auto r = sides.restart_daemon(); !r) return error(r.error().describe());
    return {{"status", "ok"}};
  }
  return error(fmt::format("unknown request kind '{}' (verify, experiment, kernel-list, restart)", kind));
}

}  // namespace

int run_batch(const VerifyOptions& opt, std::istream& in, std::ostream& out) {
  auto say = [&out](const json& j) { out << j.dump() << '\n' << std::flush; };
  if (geteuid() != 0) return say(error("verify needs root (network namespaces, BPF)")), 2;
  auto work = WorkDir::create();
  if (!work) return say(error(work.error().describe())), 2;
  auto net = ScratchNet::create(opt.in_dev, opt.out_dev);
  if (!net) return say(error("scratch namespaces: " + net.error().describe())), 2;
  Sides sides(*net, locate_tools(opt.tools), work->path(), opt.daemon_env, opt.offload);
  if (auto s = sides.start_daemon(); !s) return say(error(s.error().describe())), 2;
  say({{"ready", true}, {"offload", opt.offload}, {"nfbpfd_log", sides.log_path()}});
  std::string line;
  while (!interrupted() && std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json req = json::parse(line, nullptr, false);
    json reply = req.is_object() ? one_request(*net, sides, opt, req) : error("a request is one JSON object per line");
    if (req.is_object() && req.contains("id")) reply["id"] = req["id"];
    say(reply);
  }
  return interrupted() ? 2 : 0;
}

}  // namespace nfbpf::verify
