#pragma once
// The packets verify sends besides the boundary probes and the capture: a few generic ones per
// family (so rules with nothing to vary still run: limits, quotas, bare verdicts), and the
// sentinel that tells, once counted, that everything sent before it went through the hooks.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nfbpf::verify {

struct Packet {
  std::vector<uint8_t> frame;       // Ethernet, addressed to p1
  std::string source;               // "probe: tcp dport: value+1", "pcap #12", "generic #3"
  std::optional<bool> expect_match; // probes: the reference evaluator's verdict for its rule
};

// realistic: checksums filled in (make_realistic); false: as built, checksums 0 (compat-tests'
// experiments send them so, as its probes, which test header fields bit by bit).
std::vector<Packet> generic_packets(bool realistic = true);

// Makes a probe frame look like real traffic to conntrack, which runs on both sides whenever the
// ruleset reads ct (and would otherwise call most probes invalid): a TCP segment without any flag
// gets SYN, and TCP/UDP/ICMP/ICMPv6 checksums are computed (probes write fields after the packet
// was built). Truncated or fragmented packets are left as they are.
void make_realistic(std::vector<uint8_t>& frame);
std::vector<uint8_t> sentinel_frame();
// The IPv6 sentinel (2001:db8:ffff::222 > ::223, udp 9): for rulesets that see only IPv6.
std::vector<uint8_t> sentinel_frame_v6();

}  // namespace nfbpf::verify
