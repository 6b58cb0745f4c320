// nfbpf_probe_gen: the probe packets for one rule, generated from what the KERNEL holds.
//
// Runs inside the kernel-side receiver namespace after the case's ruleset was loaded there. It
// dumps one table (chains, rules, sets with elements) over NETLINK_NETFILTER, lowers it with
// translate/nft + the translate pipeline exactly as nfbpfd's offload does, and asks
// eval::rule_probes for the packets that just match / just miss every boundary of the first rule
// of the given chain. Each probe is printed as one line, ready to be sent as is on a veth:
//
//   <ethernet frame, hex> <evaluator expects match: 0|1> <what is varied>
//
// Frames get an Ethernet header addressed to the receiver (so they are PACKET_HOST: the IP stack
// drops other-host frames before prerouting) and a correct IPv4 header checksum (probes write
// header fields after the packet was built; a bad checksum is dropped before any hook). Probes
// whose frames come out identical (those that vary only metadata) are printed once.
//
// The work is nfnl-server/cli/verify/probe_set (the engine `nfbpf verify` uses too); this file is
// only its command line, kept as compat-tests/nfbpf_compat/verdicts.py calls it.
//
// Usage: nfbpf_probe_gen <family> <table> <chain|*> <in-dev> <dst-mac> [max-set-elements]
// (chain: its first rule; "*": every rule of every chain of the table)
// Exit: 0 probes printed; 2 usage or netlink error; 3 a rule or set is refused; 4 no probes.
#include <net/if.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/probe_set.h"

namespace {

int die(const std::string& msg) {
  std::fprintf(stderr, "nfbpf_probe_gen: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace nfbpf;
  if (argc < 6) return die("usage: nfbpf_probe_gen <family> <table> <chain> <in-dev> <dst-mac> [max-set-elements]");
  const std::string fam = argv[1], table = argv[2];
  verify::ProbeRequest req{.chain = argv[3], .in_dev = argv[4]};
  if (!verify::parse_mac(argv[5], req.dst_mac)) return die("bad mac " + std::string(argv[5]));
  const uint8_t family = verify::nfproto_from_name(fam);
  if (family == 0) return die("unknown family " + fam);
  req.in_ifindex = if_nametoindex(req.in_dev.c_str());
  if (argc > 6) req.max_set_elements = std::stoul(argv[6]);

  std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> nl(mnl_socket_open(NETLINK_NETFILTER), mnl_socket_close);
  if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return die(fmt::format("netlink: {}", strerror(errno)));

  auto dumped = verify::dump_table(nl.get(), family, table, /*skip_refused=*/false);
  if (!dumped) {
    if (dumped.error().err == EOPNOTSUPP) {
      std::fprintf(stderr, "nfbpf_probe_gen: %s\n", dumped.error().msg.c_str());
      return 3;
    }
    return die(dumped.error().describe());
  }
  auto probes = verify::table_probes(dumped->table, req);
  if (!probes) {
    if (probes.error().err == ENOENT) return die(probes.error().msg);
    std::fprintf(stderr, "nfbpf_probe_gen: no probes: %s\n", probes.error().describe().c_str());
    return 4;
  }
  for (const auto& p : *probes) {
    std::string h;
    for (uint8_t c : p.frame) h += fmt::format("{:02x}", c);
    std::printf("%s %d %s\n", h.c_str(), p.expect_match ? 1 : 0, p.what.c_str());
  }
  return 0;
}
