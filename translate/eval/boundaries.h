#pragma once
// Boundary probes: from a Match (or a whole rule), the packets that just match and just miss on
// each side of every boundary, each with the reference evaluator's verdict. This is how codegen's
// table-driven tests get their packets without anyone writing expectations by hand:
//
//   for (const auto& p : *eval::rule_probes(table, rule)) {
//     auto got = run_bpf(prog, p.ctx, p.frame);           // codegen's side
//     EXPECT_EQ(got, p.expect_match) << p.describe();     // "tcp dport value+1 (0017): ipv4 ... -> miss"
//   }
//
// What is varied, per match:
// - eq/ne: the value itself; every bit the mask covers (every bit, without a mask) flipped; the
//   value +-1 in the field's byte order; the first and last bit the mask does NOT cover flipped
//   (still a match for eq: shows the mask is applied); for masks of at most 8 bits, every
//   combination of those bits (flag tests).
// - lt/le/gt/ge: value -1, value, value +1, all-zeros, all-ones. range: both ends -1, 0, +1,
//   all-zeros, all-ones.
// - sets (and verdict maps): each element (up to max_set_elements) and its neighbours: +-1 for
//   exact keys, start -1 / start / end / end +1 for intervals, one concatenated part at a time.
// - for the value that matches: the other IP family (where the table family allows both), and
//   for transport fields: cut one byte short of the field, cut right after it, a non-first
//   fragment, and (IPv6) behind a hop-by-hop header.
// Values a packet cannot carry (an interface name with bytes after its NUL, a length below the
// headers, an nfproto other than IPv4/IPv6) are skipped. The expectation is always computed, by
// running the rule (or the single match) as the only rule of a chain: accept if it holds,
// policy drop otherwise.

#include <string>
#include <vector>

#include "common/result.h"
#include "translate/eval/context.h"
#include "translate/ir/ir.h"

namespace nfbpf::eval {

struct ProbeOptions {
  // Hook and devices to probe at (family and l2_len are chosen per probe). Netdev tables are
  // probed at ingress with an Ethernet header.
  PacketContext ctx = {.hook = ir::Hook::kInput, .in = Device{.name = "eth0", .ifindex = 2}};
  size_t max_set_elements = 64;
};

struct Probe {
  std::string what;     // the boundary: "tcp dport: value+1"
  PacketContext ctx;
  ir::Bytes frame;      // ctx.l2_len bytes of link header, then L3
  bool expect_match = false;
  std::string describe() const;  // what, the packet in one line, and the expectation
};

Result<std::vector<Probe>> match_probes(const ir::Table& t, const ir::Match& m, const ProbeOptions& opt = {});
// Every Match (and VerdictMap key) of the rule varied in turn, the others held at a value that
// satisfies them where one is known (eq, range, set element).
Result<std::vector<Probe>> rule_probes(const ir::Table& t, const ir::Rule& r, const ProbeOptions& opt = {});

}  // namespace nfbpf::eval
