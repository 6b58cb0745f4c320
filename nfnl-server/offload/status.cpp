#include "nfnl-server/offload/status.h"

#include <linux/netfilter.h>
#include <net/if.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace nfbpf::offload {

namespace {

std::string_view inet_hook_name(uint32_t hooknum) {
  switch (hooknum) {
    case NF_INET_PRE_ROUTING: return "prerouting";
    case NF_INET_LOCAL_IN: return "input";
    case NF_INET_FORWARD: return "forward";
    case NF_INET_LOCAL_OUT: return "output";
    case NF_INET_POST_ROUTING: return "postrouting";
    default: return "unknown";
  }
}

// The device's name now, in the daemon's namespace ("" if it is gone).
std::string device_name(int ifindex) {
  char buf[IF_NAMESIZE] = {};
  return ::if_indextoname(static_cast<unsigned>(ifindex), buf) ? std::string(buf) : std::string();
}

std::string attached_text(const nlohmann::json& a) {
  if (a.value("kind", "") == "netfilter")
    return fmt::format("netfilter {} {} priority {}", a.value("pf", ""), a.value("hook", ""), a.value("priority", 0));
  std::string dev = a.value("device", "");
  return fmt::format("tcx {} {} (ifindex {})", a.value("direction", ""), dev.empty() ? "?" : dev, a.value("ifindex", 0));
}

}  // namespace

nlohmann::json to_json(const AttachKey& k) {
  using codegen::flavor::Flavor;
  if (k.flavor == Flavor::kNetfilter)
    return {{"kind", "netfilter"},
            {"pf", k.pf == NFPROTO_IPV6 ? "ipv6" : "ipv4"},
            {"hook", inet_hook_name(k.hooknum)},
            {"priority", k.priority}};
  return {{"kind", "tcx"},
          {"direction", k.flavor == Flavor::kTcxEgress ? "egress" : "ingress"},
          {"ifindex", k.ifindex},
          {"device", device_name(k.ifindex)}};
}

nlohmann::json to_json(const OffloadStatus& s) {
  nlohmann::json chains = nlohmann::json::array();
  for (const ChainStatus& c : s.chains) {
    nlohmann::json at = nlohmann::json::array();
    for (const AttachKey& k : c.attached) at.push_back(to_json(k));
    nlohmann::json prog = {{"id", c.prog_id},           {"name", c.prog_name},      {"insns", c.insns},
                            {"compile_ms", c.compile_ms}, {"load_ms", c.load_ms}};
    prog["verified_insns"] = c.verified_insns ? nlohmann::json(*c.verified_insns) : nlohmann::json();
    if (c.blocks > 1) {
      prog["blocks"] = c.blocks;
      prog["verified_insns_max"] = c.verified_insns_max ? nlohmann::json(*c.verified_insns_max) : nlohmann::json();
    }
    nlohmann::json j = {{"family", c.family}, {"table", c.table},   {"chain", c.chain},
                        {"type", c.type},     {"hook", c.hook},     {"priority", c.priority},
                        {"devices", c.devices}, {"program", std::move(prog)}, {"attached", std::move(at)}};
    if (c.refused) j["refused"] = *c.refused;
    chains.push_back(std::move(j));
  }
  nlohmann::json out = {{"mode", s.mode}, {"chains", std::move(chains)}, {"compiled", s.compiled}, {"reused", s.reused}};
  if (!s.placement.empty()) {
    nlohmann::json placed = nlohmann::json::array();
    for (const PlacedChainStatus& p : s.placement) {
      nlohmann::json j = {{"family", p.family}, {"table", p.table}, {"chain", p.chain}, {"base", p.base}, {"where", p.where}};
      if (!p.reason.empty()) j["reason"] = p.reason;
      placed.push_back(std::move(j));
    }
    out["placement"] = std::move(placed);
  }
  out["last_refused"] = s.last_refused ? nlohmann::json{{"chain", s.last_refused->chain}, {"error", s.last_refused->error}}
                                       : nlohmann::json();
  return out;
}

nlohmann::json to_json(const std::vector<LegacyTableStatus>& tables) {
  nlohmann::json out = nlohmann::json::array();
  for (const LegacyTableStatus& t : tables) {
    nlohmann::json j = {{"family", t.family}, {"table", t.table}, {"where", t.where}};
    if (!t.reason.empty()) j["reason"] = t.reason;
    out.push_back(std::move(j));
  }
  return out;
}

std::string render_legacy_tables_text(const nlohmann::json& s) {
  if (!s.contains("legacy_tables") || s["legacy_tables"].empty()) return {};
  std::string out = "iptables-legacy tables:\n";
  for (const auto& t : s["legacy_tables"]) {
    out += fmt::format("  {} {}: {}", t.value("family", ""), t.value("table", ""), t.value("where", ""));
    if (t.contains("reason")) out += " (" + t["reason"].get<std::string>() + ")";
    out += "\n";
  }
  return out;
}

std::string render_status_text(const nlohmann::json& s) {
  std::string out = fmt::format("offload: {} (programs compiled {}, reused {})\n", s.value("mode", "?"),
                                s.value("compiled", 0), s.value("reused", 0));
  const nlohmann::json& chains = s.contains("chains") ? s["chains"] : nlohmann::json::array();
  if (chains.empty()) out += "no base chain is offloaded\n";
  for (const auto& c : chains) {
    out += fmt::format("{} {} {}: type {} hook {} priority {}", c.value("family", ""), c.value("table", ""),
                       c.value("chain", ""), c.value("type", ""), c.value("hook", ""), c.value("priority", 0));
    if (c.contains("devices") && !c["devices"].empty()) {
      out += " devices";
      for (const auto& d : c["devices"]) out += " " + d.get<std::string>();
    }
    out += "\n";
    const auto& p = c["program"];
    out += fmt::format("  program id {} ({}): {} insns", p.value("id", 0), p.value("name", ""), p.value("insns", 0));
    if (p.contains("verified_insns") && !p["verified_insns"].is_null())
      out += fmt::format(", verifier processed {}", p["verified_insns"].get<uint64_t>());
    if (p.contains("blocks"))
      out += fmt::format(" in {} blocks chained by tail calls (at most {} in one)", p["blocks"].get<uint64_t>(),
                         p["verified_insns_max"].is_number() ? p["verified_insns_max"].get<uint64_t>() : 0);
    if (p.contains("compile_ms"))
      out += fmt::format("; compiled in {:.2f} ms, loaded in {:.2f} ms", p.value("compile_ms", 0.0), p.value("load_ms", 0.0));
    out += "\n";
    for (const auto& a : c["attached"]) out += "  attached: " + attached_text(a) + "\n";
    if (c.contains("refused")) out += "  last batch refused: " + c["refused"].get<std::string>() + "\n";
  }
  if (s.contains("placement")) {
    out += "placement:\n";
    for (const auto& p : s["placement"]) {
      out += fmt::format("  {} {} {}{}: {}", p.value("family", ""), p.value("table", ""), p.value("chain", ""),
                         p.value("base", false) ? "" : " (regular)", p.value("where", ""));
      if (p.contains("reason")) out += " (kept in the kernel by: " + p["reason"].get<std::string>() + ")";
      out += "\n";
    }
  }
  out += render_legacy_tables_text(s);
  if (s.contains("last_refused") && !s["last_refused"].is_null()) {
    const auto& r = s["last_refused"];
    const std::string chain = r.value("chain", "");
    out += fmt::format("last refused batch{}: {}\n", chain.empty() ? "" : " (chain " + chain + ")", r.value("error", ""));
  }
  return out;
}

}  // namespace nfbpf::offload
