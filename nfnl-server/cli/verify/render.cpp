#include "nfnl-server/cli/verify/render.h"

#include <fmt/format.h>

namespace nfbpf::verify {

namespace {

using json = nlohmann::json;

std::string str(const json& j, const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; }

std::string counters_text(const json& pair) {
  return pair.is_array() ? fmt::format("{} pkts {} bytes", pair[0].get<uint64_t>(), pair[1].get<uint64_t>()) : "-";
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string side_text(const char* name, const json& v) {
  std::string s = str(v, "verdict").empty()
                      ? fmt::format("      {:7} decided by {}\n", name, str(v, "decided_by"))
                      : fmt::format("      {:7} verdict {}, decided by {}\n", name, str(v, "verdict"), str(v, "decided_by"));
  for (const auto& m : v.value("matched", json::array())) s += fmt::format("              matched {}\n", m.get<std::string>());
  return s;
}

}  // namespace

std::string render_text(const json& r) {
  std::string o;
  if (str(r, "status") == "error") return fmt::format("nfbpf verify: could not run: {}\n", str(r, "error"));
  const json& s = r["summary"];
  o += fmt::format("nfbpf verify {} ({})\n", str(r, "ruleset"), str(r, "format"));
  o += fmt::format("  rules: {} — {} {}, {} refused\n", s["rules"].get<size_t>(), s["offloaded"].get<size_t>(),
                   s.contains("runs") ? "accepted by nfbpfd (hybrid)" : "offloaded", s["refused"].get<size_t>());
  if (s.contains("runs")) {
    // Hybrid: nfbpfd accepted these rules; where each one runs.
    std::string parts;
    for (const auto& [where, n] : s["runs"].items())
      parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", n.get<size_t>(),
                           where == "bpf" ? "as BPF" : where == "kernel" ? "in the kernel (nfbpfd's namespace)" : "on " + where);
    o += fmt::format("  hybrid mode: {}\n", parts);
    for (const auto& row : r["rules"])
      if (row.value("runs", "") != "" && row.value("runs", "") != "bpf")
        o += fmt::format("  runs {}: {}: {}\n", row.value("runs", ""), str(row, "key"), str(row, "text"));
  }
  o += fmt::format("  listing: {}\n", r.value("listing_identical", false) ? "identical on both sides"
                                                                          : "DIFFERS: " + str(r, "listing_difference"));
  if (r.contains("load_refusal"))
    o += fmt::format("  the ruleset as a whole was refused by nfbpfd: {}\n", str(r, "load_refusal"));
  for (const auto& row : r["rules"])
    if (!row["offloaded"].get<bool>())
      o += fmt::format("  REFUSED {}: {}\n      reason: {}\n", str(row, "key"), str(row, "text"), str(row, "reason"));
  const json& p = r["packets"];
  o += fmt::format("  packets: {} boundary probes, {} generic", p["probes"].get<uint64_t>(), p["generic"].get<uint64_t>());
  if (p["pcap_records"].get<uint64_t>() > 0 || p["pcap"].get<uint64_t>() > 0)
    o += fmt::format(", {} from the capture ({} records, {} not replayable{})", p["pcap"].get<uint64_t>(),
                     p["pcap_records"].get<uint64_t>(), p["pcap_skipped"].get<uint64_t>(),
                     p["pcap_truncated"].get<bool>() ? ", stopped at --max-packets" : "");
  o += "\n";
  if (r["format"] == "nft")
    o += fmt::format("  accepted: kernel {} / nfbpf {} (of {} that reached the hooks)\n", p["accepted_kernel"].dump(),
                     p["accepted_nfbpf"].dump(), p["arrived_kernel"].dump());
  if (p.contains("paths") && p["paths"].size() > 1) {
    std::string ways;
    for (const auto& w : p["paths"]) {
      const std::string x = w.get<std::string>();
      ways += std::string(ways.empty() ? "" : &w == &p["paths"].back() ? " and " : ", ") +
              (x == "local"     ? "to the host (prerouting, input)"
               : x == "forward" ? "routed through (prerouting, forward, postrouting)"
                                : "sent by the host itself (output, postrouting)");
    }
    o += p["paths"].size() == 2 ? fmt::format("  every packet sent twice: {}\n", ways)
                                : fmt::format("  every packet sent {} times: {}\n", p["paths"].size(), ways);
  }
  if (r["format"] == "nft" && p.contains("paths") && p["paths"].dump().find("output") != std::string::npos)
    o += fmt::format("  sent by the host and accepted at output: kernel {} / nfbpf {} ({} not sendable from a raw socket)\n",
                     p.value("output_accepted_kernel", json(0)).dump(), p.value("output_accepted_nfbpf", json(0)).dump(),
                     p.value("output_unsendable", json(0)).dump());
  if (r["format"] == "nft" && p.contains("paths") && p["paths"].dump().find("forward") != std::string::npos)
    o += fmt::format("  forwarded: kernel {} / nfbpf {}\n", p.value("forwarded_kernel", json(0)).dump(),
                     p.value("forwarded_nfbpf", json(0)).dump());
  o += fmt::format("  rules that matched some packet: {} of {}\n", s["exercised"].get<size_t>(), s["offloaded"].get<size_t>());
  for (const auto& row : r["rules"])
    if (row["offloaded"].get<bool>() && !row["equal"].get<bool>())
      o += fmt::format("  COUNTERS DIFFER {}: {}\n      kernel {}, nfbpf {}\n", str(row, "key"), str(row, "text"),
                       counters_text(row["kernel"]), counters_text(row["nfbpf"]));
  for (const auto& m : r["mismatches"]) {
    o += fmt::format("  MISMATCH {} ({})\n      packet  {}\n", str(m, "packet"), str(m, "source"), str(m, "frame"));
    o += side_text("kernel", m["kernel"]);
    o += side_text("nfbpf", m["nfbpf"]);
  }
  for (const auto& n : r.value("notes", json::array())) o += fmt::format("  note: {}\n", n.get<std::string>());
  const std::string st = str(r, "status");
  const bool hybrid = s.contains("runs");
  o += fmt::format("result: {}\n", st == "equal" && hybrid ? "EQUAL — every rule accepted by nfbpfd, every packet handled alike"
                                   : st == "equal"     ? "EQUAL — every rule offloaded, every packet handled alike"
                                   : st == "refused" ? "REFUSED rules (the others behave alike)"
                                   : st == "listing-differs" ? "LISTING DIFFERS"
                                                             : "MISMATCH");
  return o;
}

std::string render_html(const json& r) {
  std::string o = "<!doctype html><html><head><meta charset=\"utf-8\"><title>nfbpf verify</title><style>"
                  "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                  "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}"
                  "code{font-size:90%}.bad{background:#fdd}.ok{background:#dfd}.off{background:#eee}"
                  "</style></head><body>";
  o += fmt::format("<h1>nfbpf verify: {}</h1>", esc(str(r, "ruleset")));
  if (str(r, "status") == "error") return o + fmt::format("<p class=bad>could not run: {}</p></body></html>", esc(str(r, "error")));
  o += fmt::format("<p>format {} — result <b>{}</b> (exit status {})</p>", esc(str(r, "format")), esc(str(r, "status")),
                   r["exit"].get<int>());
  o += fmt::format("<p>listing: {}</p>", r.value("listing_identical", false) ? "identical" : esc("differs: " + str(r, "listing_difference")));
  if (r.contains("load_refusal")) o += fmt::format("<p>ruleset refused as a whole: {}</p>", esc(str(r, "load_refusal")));
  o += "<h2>Rules</h2><table><tr><th>rule</th><th>text</th><th>hook</th><th>offloaded</th><th>runs</th><th>kernel</th><th>nfbpf</th></tr>";
  for (const auto& row : r["rules"]) {
    const bool off = row["offloaded"].get<bool>();
    const char* cls = !off ? "off" : row["equal"].get<bool>() ? "ok" : "bad";
    o += fmt::format("<tr class={}><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                     cls, esc(str(row, "key")), esc(str(row, "text")), esc(str(row, "hook")),
                     off ? "yes" : esc("no: " + str(row, "reason")), esc(row.value("runs", off ? "bpf" : "")),
                     off ? counters_text(row["kernel"]) : "",
                     off ? counters_text(row["nfbpf"]) : "");
  }
  o += "</table>";
  if (!r["mismatches"].empty()) {
    o += "<h2>Packets handled differently</h2><table><tr><th>packet</th><th>kernel</th><th>nfbpf</th></tr>";
    for (const auto& m : r["mismatches"]) {
      auto side = [&](const json& v) {
        std::string s = fmt::format("{}<br>decided by <code>{}</code>", esc(str(v, "verdict")), esc(str(v, "decided_by")));
        for (const auto& x : v.value("matched", json::array())) s += "<br>matched <code>" + esc(x.get<std::string>()) + "</code>";
        return s;
      };
      o += fmt::format("<tr class=bad><td>{}<br><small>{}</small><br><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                       esc(str(m, "packet")), esc(str(m, "source")), esc(str(m, "frame")), side(m["kernel"]), side(m["nfbpf"]));
    }
    o += "</table>";
  }
  const json& p = r["packets"];
  o += fmt::format("<h2>Packets</h2><pre>{}</pre>", esc(p.dump(2)));
  for (const auto& n : r.value("notes", json::array())) o += fmt::format("<p>note: {}</p>", esc(n.get<std::string>()));
  return o + "</body></html>\n";
}

}  // namespace nfbpf::verify
