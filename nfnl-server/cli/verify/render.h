#pragma once
// The verify report for people: a summary on the terminal, and a self-contained HTML page with
// one row per rule (offloaded or why not, counters on both sides) and the differing packets.

#include <string>

#include <nlohmann/json.hpp>

namespace nfbpf::verify {

std::string render_text(const nlohmann::json& report);
std::string render_html(const nlohmann::json& report);

}  // namespace nfbpf::verify
