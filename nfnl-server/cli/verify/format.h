#pragma once
// Which language a ruleset file is written in: `nft -f` input, or iptables-save / ip6tables-save
// output (lines "*table", ":CHAIN POLICY [p:b]", "-A ...", "COMMIT").

#include <optional>
#include <string>

namespace nfbpf::verify {

enum class RulesetFormat { kNft, kIptables, kIp6tables };

// "nft", "iptables", "ip6tables"; nullopt for anything else.
std::optional<RulesetFormat> parse_format(const std::string& name);
const char* format_name(RulesetFormat f);

// Save files: a "*table" line before any rule. ip6tables-save output is told apart by its header
// comment or by IPv6 addresses/ICMPv6 in its rules; everything else is nft syntax.
RulesetFormat detect_format(const std::string& text);

}  // namespace nfbpf::verify
