// nfbpf_ipt_probe_gen: the probe packets for an iptables-legacy filter table, generated from what
// the KERNEL holds (the x_tables counterpart of nfbpf_probe_gen, same engine).
//
// Runs inside the kernel-side receiver namespace after the case's rules were added there with
// iptables-legacy / ip6tables-legacy. It reads the filter table with IPT_SO_GET_INFO /
// IPT_SO_GET_ENTRIES (IP6T_SO_* for ip6), lowers it with translate/ipt + the translate pipeline
// exactly as nfbpfd's legacy offload does, and prints verify::table_probes' frames for every rule,
// one per line:
//
//   <ethernet frame, hex> <evaluator expects match: 0|1> <what is varied>
//
// Usage: nfbpf_ipt_probe_gen <ip|ip6> <in-dev> <dst-mac> [max-set-elements]
// Exit: 0 probes printed; 2 usage or sockopt error; 3 the table is refused by translate/ipt;
// 4 no probes.
#include <net/if.h>  // before the linux/ headers (linux/if.h would clash with it)
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "nfnl-server/cli/verify/probe_set.h"
#include "translate/ipt/lower.h"
#include "translate/passes/pipeline.h"

namespace {

int die(const std::string& msg) {
  std::fprintf(stderr, "nfbpf_ipt_probe_gen: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace nfbpf;
  if (argc < 4) return die("usage: nfbpf_ipt_probe_gen <ip|ip6> <in-dev> <dst-mac> [max-set-elements]");
  const bool v6 = std::string(argv[1]) == "ip6";
  verify::ProbeRequest req{.chain = "*", .in_dev = argv[2]};
  if (!verify::parse_mac(argv[3], req.dst_mac)) return die("bad mac " + std::string(argv[3]));
  req.in_ifindex = if_nametoindex(req.in_dev.c_str());
  if (argc > 4) req.max_set_elements = std::stoul(argv[4]);

  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) return die(fmt::format("socket: {}", strerror(errno)));
  const int level = v6 ? SOL_IPV6 : SOL_IP;
  // ipt_getinfo / ipt_get_entries and their ip6t twins have the same layout.
  ipt_getinfo info{};
  std::strcpy(info.name, "filter");
  socklen_t len = sizeof(info);
  if (::getsockopt(fd, level, v6 ? IP6T_SO_GET_INFO : IPT_SO_GET_INFO, &info, &len) != 0)
    return die(fmt::format("GET_INFO: {}", strerror(errno)));
  std::vector<uint8_t> buf(sizeof(ipt_get_entries) + info.size);
  auto* get = reinterpret_cast<ipt_get_entries*>(buf.data());
  std::strcpy(get->name, "filter");
  get->size = info.size;
  len = static_cast<socklen_t>(buf.size());
  if (::getsockopt(fd, level, v6 ? IP6T_SO_GET_ENTRIES : IPT_SO_GET_ENTRIES, buf.data(), &len) != 0)
    return die(fmt::format("GET_ENTRIES: {}", strerror(errno)));
  ::close(fd);

  translate::ipt::IptTableBlob blob{.family = v6 ? AF_INET6 : AF_INET, .table = "filter", .valid_hooks = info.valid_hooks,
                                    .entries = std::span<const uint8_t>(buf).subspan(sizeof(ipt_get_entries), info.size)};
  for (size_t h = 0; h < blob.hook_entry.size(); ++h) {
    blob.hook_entry[h] = info.hook_entry[h];
    blob.underflow[h] = info.underflow[h];
  }
  auto table = translate::ipt::lower_ipt_table(blob);
  if (table) {
    if (auto p = translate::passes::run_pipeline(*table); !p) table = std::unexpected(p.error());
  }
  if (!table) {
    std::fprintf(stderr, "nfbpf_ipt_probe_gen: %s\n", table.error().describe().c_str());
    return 3;
  }
  auto probes = verify::table_probes(*table, req);
  if (!probes) {
    std::fprintf(stderr, "nfbpf_ipt_probe_gen: no probes: %s\n", probes.error().describe().c_str());
    return 4;
  }
  for (const auto& p : *probes) {
    std::string h;
    for (uint8_t c : p.frame) h += fmt::format("{:02x}", c);
    std::printf("%s %d %s\n", h.c_str(), p.expect_match ? 1 : 0, p.what.c_str());
  }
  return 0;
}
