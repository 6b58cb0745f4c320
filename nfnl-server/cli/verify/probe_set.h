#pragma once
// Probe packets for a ruleset as the kernel (or anything speaking nf_tables netlink) holds it:
// dump one table over NETLINK_NETFILTER, lower it with translate/nft + the translate pipeline
// exactly as nfbpfd's offload does, and ask eval::rule_probes for the packets that just match /
// just miss every boundary its rules test. Used by `nfbpf verify` and its --batch experiments,
// which compat-tests' verdict differentials run on (one engine for both).

#include <libmnl/libmnl.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::verify {

// A rule translate/nft (or the pipeline) cannot lower: no probes come from it.
struct RuleRefusal {
  std::string chain;
  uint64_t handle = 0;
  std::string reason;
};

struct DumpedTable {
  ir::Table table;
  std::vector<RuleRefusal> refused;  // only filled when dump_table was asked to skip them
};

// Dumps table `name` of `nfproto` over `nl` (a bound NETLINK_NETFILTER socket). Refused rules
// fail the whole dump (EOPNOTSUPP, "refused: ...") unless `skip_refused`, which leaves them out
// and lists them. Other errors: the failing dump's errno.
Result<DumpedTable> dump_table(mnl_socket* nl, uint8_t nfproto, const std::string& name, bool skip_refused);

struct ProbeRequest {
  std::string chain = "*";          // "*": every rule of every chain; else the chain's first rule
  std::string in_dev;               // the device the frames arrive on
  uint32_t in_ifindex = 0;
  std::array<uint8_t, 6> dst_mac{}; // frames are addressed to it (PACKET_HOST)
  std::array<uint8_t, 6> src_mac{0x02, 0, 0, 0, 0, 0x01};
  size_t max_set_elements = 16;
};

struct ProbeFrame {
  std::vector<uint8_t> frame;  // Ethernet frame, ready to send on a veth
  bool expect_match = false;   // the reference evaluator's verdict for the rule it probes
  std::string what;            // the boundary varied (one line)
};

// The probes of the requested rules as Ethernet frames: IP length fitted, IPv4 checksum fixed,
// frames beyond 1514 bytes or of other link layers left out, identical frames once.
// ENOENT: the chain has no rule. Other errors come from eval::rule_probes.
Result<std::vector<ProbeFrame>> table_probes(const ir::Table& t, const ProbeRequest& req);

// "ip" → NFPROTO_IPV4 ...; NFPROTO_UNSPEC for names nft does not know.
uint8_t nfproto_from_name(const std::string& family);
// "aa:bb:cc:dd:ee:ff" into `out`; false if the text is not six hex bytes.
bool parse_mac(const std::string& text, std::array<uint8_t, 6>& out);

}  // namespace nfbpf::verify
