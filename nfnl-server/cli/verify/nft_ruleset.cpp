#include "nfnl-server/cli/verify/nft_ruleset.h"

#include <cerrno>
#include <sstream>

#include <fmt/format.h>

namespace nfbpf::verify {

namespace {

using json = nlohmann::json;

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// `nft -a list ruleset`: each rule ends in "# handle N" (sets inside a rule may span lines).
std::map<std::tuple<std::string, std::string, std::string, uint64_t>, std::string> rule_texts(const std::string& text) {
  std::map<std::tuple<std::string, std::string, std::string, uint64_t>, std::string> out;
  std::istringstream in(text);
  std::string line, family, table, chain, acc;
  int depth = 0;  // 1 table, 2 chain (or set/map/...), deeper: inside a rule's braces
  bool in_chain = false;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (depth == 0 && t.starts_with("table ")) {
      std::istringstream w(t.substr(6));
      w >> family >> table;
      depth = 1;
      continue;
    }
    if (depth == 1) {
      if (t == "}") depth = 0;
      else if (t.ends_with("{") || t.find("{ #") != std::string::npos) {
        depth = 2;
        in_chain = t.starts_with("chain ");
        if (in_chain) std::istringstream(t.substr(6)) >> chain;
        acc.clear();
      }
      continue;
    }
    if (depth == 2 && t == "}" && acc.empty()) {
      depth = 1;
      in_chain = false;
      continue;
    }
    if (!in_chain || t.empty()) continue;
    acc += (acc.empty() ? "" : " ") + t;
    const auto h = acc.rfind("# handle ");
    if (h != std::string::npos) {
      out[{family, table, chain, std::stoull(acc.substr(h + 9))}] = trim(acc.substr(0, h));
      acc.clear();
    } else if (acc.ends_with(";")) {
      acc.clear();  // the chain's "type ... hook ... priority ...; policy ...;" line
    }
  }
  return out;
}

}  // namespace

std::string NftRule::key() const { return fmt::format("{} {} {}#{}", family, table, chain, index); }

Result<NftModel> nft_model(const std::string& json_listing, const std::string& text_listing, const std::string& out_dev) {
  json j = json::parse(json_listing, nullptr, false);
  if (j.is_discarded() || !j.contains("nftables")) return failf(EINVAL, "nft -j list ruleset: not JSON");
  const auto texts = rule_texts(text_listing);
  NftModel m;
  std::map<std::string, std::string> hooks;  // "family table chain" -> hook
  std::map<std::string, size_t> next_index;
  std::vector<json> others;
  for (const auto& item : j["nftables"]) {
    if (!item.is_object() || item.size() != 1) continue;
    const std::string kind = item.begin().key();
    if (kind == "metainfo") continue;
    json obj = item.begin().value();
    obj.erase("handle");
    const std::string fam = obj.value("family", "");
    if (kind == "table") {
      if (fam == "ip" || fam == "ip6" || fam == "inet") m.tables.emplace_back(fam, obj.value("name", ""));
      m.skeleton.push_back({{"add", {{"table", obj}}}});
    } else if (kind == "chain") {
      hooks[fmt::format("{} {} {}", fam, obj.value("table", ""), obj.value("name", ""))] = obj.value("hook", "");
      m.skeleton.push_back({{"add", {{"chain", obj}}}});
    } else if (kind == "rule") {
      NftRule r{.family = fam, .table = obj.value("table", ""), .chain = obj.value("chain", "")};
      r.handle = item.begin().value().value("handle", uint64_t{0});
      r.index = next_index[fmt::format("{} {} {}", r.family, r.table, r.chain)]++;
      auto t = texts.find({r.family, r.table, r.chain, r.handle});
      r.text = t != texts.end() ? t->second : "";
      r.hook = hooks[fmt::format("{} {} {}", r.family, r.table, r.chain)];
      // Right after the rule's matches: counts the packets that matched it, whatever its
      // statements do next (a counter after a terminal statement is refused).
      json exprs = obj.value("expr", json::array());
      size_t at = 0;
      while (at < exprs.size() && exprs[at].is_object() && exprs[at].contains("match")) ++at;
      // A rule that already counts there (an anonymous counter, not `counter name`) keeps its
      // own: a second counter would change what nfbpfd compiles (merge_runs merges only rules
      // whose one statement is a counter, so counted runs of long chains would stay linear).
      const bool counts = at < exprs.size() && exprs[at].is_object() && exprs[at].contains("counter") &&
                          (exprs[at]["counter"].is_object() || exprs[at]["counter"].is_null());
      if (!counts) exprs.insert(exprs.begin() + static_cast<long>(at), json{{"counter", nullptr}});
      obj["expr"] = exprs;
      r.add = {{"add", {{"rule", obj}}}};
      m.rules.push_back(std::move(r));
    } else {
      others.push_back({{"add", {{kind, obj}}}});
    }
  }
  // Tables, chains (verdict maps name them), then sets/maps/objects; rules come separately.
  m.skeleton.insert(m.skeleton.end(), others.begin(), others.end());
  const json t = {{"family", "inet"}, {"table", kVerifyTable}};
  auto chain = [&](const char* name, const char* hook, int prio) {
    json c = t;
    c.erase("table");
    c["table"] = kVerifyTable;
    c.update({{"name", name}, {"type", "filter"}, {"hook", hook}, {"prio", prio}, {"policy", "accept"}});
    return json{{"add", {{"chain", c}}}};
  };
  auto rule = [&](const char* chain_name, json exprs) {
    json r = t;
    r.update({{"chain", chain_name}, {"expr", std::move(exprs)}});
    return json{{"add", {{"rule", r}}}};
  };
  auto match = [](const char* proto, const char* field, json right) {
    return json{{"match", {{"op", "=="}, {"left", {{"payload", {{"protocol", proto}, {"field", field}}}}}, {"right", right}}}};
  };
  m.skeleton.push_back({{"add", {{"table", {{"family", "inet"}, {"name", kVerifyTable}}}}}});
  m.skeleton.push_back(chain("head", "prerouting", -30000));
  m.skeleton.push_back(chain("tail", "input", 30000));
  m.skeleton.push_back(chain("tailf", "forward", 30000));
  m.skeleton.push_back(chain("tailo", "output", 30000));
  m.skeleton.push_back(rule("head", json::array({match("ip", "saddr", kSentinelSrc), match("ip", "daddr", kSentinelDst),
                                                 match("udp", "dport", 9), {{"counter", nullptr}}, {{"drop", nullptr}}})));
  m.skeleton.push_back(rule("head", json::array({{{"counter", nullptr}}})));
  m.skeleton.push_back(rule("tail", json::array({{{"counter", nullptr}}})));
  m.skeleton.push_back(rule("tailf", json::array({{{"counter", nullptr}}})));
  // Only what verify itself sent from the host (bound to out_dev): the stack's own replies to
  // probes (ICMP errors, resets) cross output too, at times that differ between the sides.
  m.skeleton.push_back(rule("tailo", json::array({{{"match", {{"op", "=="}, {"left", {{"meta", {{"key", "oifname"}}}}},
                                                                {"right", out_dev}}}},
                                                  {{"counter", nullptr}}})));
  return m;
}

std::string nft_batch(const std::vector<nlohmann::json>& items) {
  json all = json::array({{{"metainfo", {{"json_schema_version", 1}}}}});
  for (const auto& i : items) all.push_back(i);
  return json{{"nftables", all}}.dump();
}

Result<Counters> nft_counters(const std::string& json_listing) {
  json j = json::parse(json_listing, nullptr, false);
  if (j.is_discarded() || !j.contains("nftables")) return failf(EINVAL, "nft -j list ruleset: not JSON");
  Counters out;
  std::map<std::string, size_t> pos;
  for (const auto& item : j["nftables"]) {
    if (!item.contains("rule")) continue;
    const auto& r = item["rule"];
    const std::string chain = fmt::format("{} {} {}", r.value("family", ""), r.value("table", ""), r.value("chain", ""));
    const size_t i = pos[chain]++;
    for (const auto& e : r.value("expr", json::array()))
      if (e.is_object() && e.contains("counter") && e["counter"].is_object() && e["counter"].contains("packets")) {
        out[fmt::format("{}#{}", chain, i)] = {e["counter"]["packets"].get<uint64_t>(), e["counter"]["bytes"].get<uint64_t>()};
        break;
      }
  }
  return out;
}

}  // namespace nfbpf::verify
