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
// Usage: nfbpf_probe_gen <family> <table> <chain|*> <in-dev> <dst-mac> [max-set-elements]
// (chain: its first rule; "*": every rule of every chain of the table)
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "translate/eval/boundaries.h"
#include "translate/nft/lower.h"
#include "translate/passes/pipeline.h"

namespace {

using namespace nfbpf;

int die(const std::string& msg) {
  std::fprintf(stderr, "nfbpf_probe_gen: %s\n", msg.c_str());
  return 2;
}

// One NLM_F_DUMP request; `fill` adds the request's attributes; every reply message is handed to
// `each`. Returns false (errno set) on failure.
bool dump(mnl_socket* nl, uint16_t msg, uint8_t family, const std::function<void(nlmsghdr*)>& fill,
          const std::function<void(const nlmsghdr*)>& each) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  static uint32_t seq = 1;
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg);
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK;
  h->nlmsg_seq = ++seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  if (fill) fill(h);
  if (mnl_socket_sendto(nl, h, h->nlmsg_len) < 0) return false;
  const uint32_t portid = mnl_socket_get_portid(nl);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n <= 0) return false;
    struct Ctx { const std::function<void(const nlmsghdr*)>* each; } c{&each};
    int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), h->nlmsg_seq, portid,
                       [](const nlmsghdr* m, void* data) {
                         (*static_cast<Ctx*>(data)->each)(m);
                         return MNL_CB_OK;
                       }, &c);
    if (r == MNL_CB_STOP) return true;
    if (r < 0) return false;
  }
}

struct ChainDeleter { void operator()(nftnl_chain* c) const { nftnl_chain_free(c); } };
struct RuleDeleter { void operator()(nftnl_rule* r) const { nftnl_rule_free(r); } };
struct SetDeleter { void operator()(nftnl_set* s) const { nftnl_set_free(s); } };

uint8_t nfproto(const std::string& fam) {
  if (fam == "ip") return NFPROTO_IPV4;
  if (fam == "ip6") return NFPROTO_IPV6;
  if (fam == "inet") return NFPROTO_INET;
  if (fam == "netdev") return NFPROTO_NETDEV;
  return NFPROTO_UNSPEC;
}

std::string hex(const ir::Bytes& b) {
  std::string s;
  for (uint8_t c : b) s += fmt::format("{:02x}", c);
  return s;
}

bool parse_mac(const std::string& s, uint8_t out[6]) {
  unsigned v[6];
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return false;
  for (int i = 0; i < 6; ++i) out[i] = static_cast<uint8_t>(v[i]);
  return true;
}

// The IP stack drops a frame whose IP length field claims more bytes than it carries before any
// hook runs. Probes that cut the packet short mean "the transport header is truncated": the length
// field follows the cut. Others (e.g. `ip length 232`) mean the field's value: the frame is padded.
void fit_ip_length(ir::Bytes& f, size_t l3, bool cut) {
  if (f.size() < l3 + 1) return;
  const bool v6 = (f[l3] >> 4) == 6;
  const size_t pos = l3 + (v6 ? 4 : 2), fixed = v6 ? 40 : 0;
  if (f.size() < pos + 2) return;
  const size_t claimed = (f[pos] << 8) | f[pos + 1];
  const size_t actual = f.size() - l3 - fixed;
  if (claimed <= actual) return;
  if (cut) {
    f[pos] = static_cast<uint8_t>(actual >> 8);
    f[pos + 1] = static_cast<uint8_t>(actual);
  } else if (l3 + fixed + claimed <= 1514) {
    f.resize(l3 + fixed + claimed, 0);
  }
}

void fix_ipv4_checksum(ir::Bytes& f, size_t l3) {
  if (f.size() < l3 + 20 || (f[l3] >> 4) != 4) return;
  size_t ihl = (f[l3] & 0x0f) * 4u;
  if (ihl < 20 || f.size() < l3 + ihl) return;
  f[l3 + 10] = f[l3 + 11] = 0;
  uint32_t sum = 0;
  for (size_t i = 0; i < ihl; i += 2) sum += (f[l3 + i] << 8) | f[l3 + i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t c = static_cast<uint16_t>(~sum);
  f[l3 + 10] = static_cast<uint8_t>(c >> 8);
  f[l3 + 11] = static_cast<uint8_t>(c);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) return die("usage: nfbpf_probe_gen <family> <table> <chain> <in-dev> <dst-mac> [max-set-elements]");
  const std::string fam = argv[1], table = argv[2], chain = argv[3], dev = argv[4];
  uint8_t dst_mac[6];
  if (!parse_mac(argv[5], dst_mac)) return die("bad mac " + std::string(argv[5]));
  const uint8_t family = nfproto(fam);
  if (family == NFPROTO_UNSPEC) return die("unknown family " + fam);

  std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> nl(mnl_socket_open(NETLINK_NETFILTER), mnl_socket_close);
  if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return die(fmt::format("netlink: {}", strerror(errno)));

  const ir::Family irfam = translate::nft::family_from_nfproto(family);
  ir::Table t{.family = irfam, .name = table};
  auto put_table = [&](nlmsghdr* h) { mnl_attr_put_strz(h, NFTA_CHAIN_TABLE, table.c_str()); };

  // Sets (and their elements) first: rules refer to them.
  std::vector<std::unique_ptr<nftnl_set, SetDeleter>> sets;
  if (!dump(nl.get(), NFT_MSG_GETSET, family, [&](nlmsghdr* h) { mnl_attr_put_strz(h, NFTA_SET_TABLE, table.c_str()); },
            [&](const nlmsghdr* m) {
              std::unique_ptr<nftnl_set, SetDeleter> s(nftnl_set_alloc());
              if (nftnl_set_nlmsg_parse(m, s.get()) >= 0) sets.push_back(std::move(s));
            }))
    return die(fmt::format("dump sets: {}", strerror(errno)));
  for (auto& s : sets) {
    const char* name = nftnl_set_get_str(s.get(), NFTNL_SET_NAME);
    if (!dump(nl.get(), NFT_MSG_GETSETELEM, family,
              [&](nlmsghdr* h) {
                mnl_attr_put_strz(h, NFTA_SET_ELEM_LIST_TABLE, table.c_str());
                mnl_attr_put_strz(h, NFTA_SET_ELEM_LIST_SET, name);
              },
              [&](const nlmsghdr* m) { nftnl_set_elems_nlmsg_parse(m, s.get()); }))
      return die(fmt::format("dump elements of {}: {}", name, strerror(errno)));
    auto lowered = translate::nft::lower_set(s.get());
    if (!lowered) return die(fmt::format("set {}: {}", name, lowered.error().describe()));
    t.sets.push_back(std::move(*lowered));
  }

  std::vector<std::unique_ptr<nftnl_chain, ChainDeleter>> chains;
  if (!dump(nl.get(), NFT_MSG_GETCHAIN, family, put_table, [&](const nlmsghdr* m) {
        std::unique_ptr<nftnl_chain, ChainDeleter> c(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(m, c.get()) >= 0 && table == nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE))
          chains.push_back(std::move(c));
      }))
    return die(fmt::format("dump chains: {}", strerror(errno)));
  for (auto& c : chains) {
    ir::Chain ic{.name = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME)};
    // Only the chain's rules matter to the probes: base chains are re-created by rule_probes'
    // own probe chain; keep them regular here so the evaluator runs nothing but the probe chain.
    if (!dump(nl.get(), NFT_MSG_GETRULE, family,
              [&](nlmsghdr* h) {
                mnl_attr_put_strz(h, NFTA_RULE_TABLE, table.c_str());
                mnl_attr_put_strz(h, NFTA_RULE_CHAIN, ic.name.c_str());
              },
              [&](const nlmsghdr* m) {
                std::unique_ptr<nftnl_rule, RuleDeleter> r(nftnl_rule_alloc());
                if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) return;
                if (ic.name != nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN)) return;
                translate::nft::LowerContext ctx{.family = irfam, .table = table, .chain = ic.name,
                                                 .rule_handle = nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE)};
                auto lowered = translate::nft::lower_rule(r.get(), ctx);
                if (!lowered) {
                  std::fprintf(stderr, "nfbpf_probe_gen: refused: %s\n", lowered.error().describe().c_str());
                  std::exit(3);
                }
                ic.rules.push_back(std::move(*lowered));
              }))
      return die(fmt::format("dump rules: {}", strerror(errno)));
    t.chains.push_back(std::move(ic));
  }
  if (auto r = translate::passes::run_pipeline(t); !r) {
    std::fprintf(stderr, "nfbpf_probe_gen: refused: %s\n", r.error().describe().c_str());
    return 3;
  }
  // chain "*": every rule of every chain (a whole ruleset's probes, frames deduplicated).
  std::vector<const ir::Rule*> rules;
  for (const auto& c : t.chains)
    if (chain == "*") {
      for (const auto& r : c.rules) rules.push_back(&r);
    } else if (c.name == chain && !c.rules.empty()) {
      rules.push_back(&c.rules.front());
    }
  if (rules.empty() && chain != "*") return die("chain " + chain + " has no rule");

  eval::ProbeOptions opt;
  opt.ctx.hook = ir::Hook::kPrerouting;
  opt.ctx.in = eval::Device{.name = dev, .ifindex = if_nametoindex(dev.c_str()), .kind = "veth"};
  if (argc > 6) opt.max_set_elements = std::stoul(argv[6]);
  std::vector<eval::Probe> all;
  for (const ir::Rule* r : rules) {
    auto probes = eval::rule_probes(t, *r, opt);
    if (!probes) {
      std::fprintf(stderr, "nfbpf_probe_gen: no probes: %s\n", probes.error().describe().c_str());
      return 4;
    }
    for (auto& p : *probes) all.push_back(std::move(p));
  }
  const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::set<std::string> seen;
  for (const auto& p : all) {
    ir::Bytes f;
    if (p.ctx.l2_len == 14 && p.frame.size() >= 14) {
      f = p.frame;
    } else if (p.ctx.l2_len == 0 && !p.frame.empty()) {
      f.assign(14, 0);
      const bool v6 = (p.frame[0] >> 4) == 6;
      f[12] = v6 ? 0x86 : 0x08;
      f[13] = v6 ? 0xdd : 0x00;
      f.insert(f.end(), p.frame.begin(), p.frame.end());
    } else {
      continue;  // other link layers cannot be sent on a veth
    }
    std::memcpy(f.data(), dst_mac, 6);
    std::memcpy(f.data() + 6, src_mac, 6);
    fit_ip_length(f, 14, p.what.find("cut ") != std::string::npos);
    fix_ipv4_checksum(f, 14);
    if (f.size() > 1514) continue;  // beyond the veth's MTU: cannot be sent as one frame
    std::string h = hex(f);
    if (!seen.insert(h).second) continue;
    std::string what = p.what;
    for (char& ch : what)
      if (ch == '\n') ch = ' ';
    std::printf("%s %d %s\n", h.c_str(), p.expect_match ? 1 : 0, what.c_str());
  }
  return 0;
}
