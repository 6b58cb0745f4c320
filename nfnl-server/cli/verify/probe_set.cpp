#include "nfnl-server/cli/verify/probe_set.h"

#include <cstdio>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "translate/eval/boundaries.h"
#include "translate/nft/lower.h"
#include "translate/passes/pipeline.h"

namespace nfbpf::verify {

namespace {

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

bool parse_mac(const std::string& text, std::array<uint8_t, 6>& out) {
  unsigned v[6];
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    return false;
  for (int i = 0; i < 6; ++i) {
    if (v[i] > 0xff) return false;
    out[i] = static_cast<uint8_t>(v[i]);
  }
  return true;
}

uint8_t nfproto_from_name(const std::string& fam) {
  if (fam == "ip") return NFPROTO_IPV4;
  if (fam == "ip6") return NFPROTO_IPV6;
  if (fam == "inet") return NFPROTO_INET;
  if (fam == "netdev") return NFPROTO_NETDEV;
  return NFPROTO_UNSPEC;
}

Result<DumpedTable> dump_table(mnl_socket* nl, uint8_t family, const std::string& table, bool skip_refused) {
  const ir::Family irfam = translate::nft::family_from_nfproto(family);
  DumpedTable out{.table = ir::Table{.family = irfam, .name = table}, .refused = {}};
  ir::Table& t = out.table;
  auto put_table = [&](nlmsghdr* h) { mnl_attr_put_strz(h, NFTA_CHAIN_TABLE, table.c_str()); };

  // Sets (and their elements) first: rules refer to them.
  std::vector<std::unique_ptr<nftnl_set, SetDeleter>> sets;
  if (!dump(nl, NFT_MSG_GETSET, family, [&](nlmsghdr* h) { mnl_attr_put_strz(h, NFTA_SET_TABLE, table.c_str()); },
            [&](const nlmsghdr* m) {
              std::unique_ptr<nftnl_set, SetDeleter> s(nftnl_set_alloc());
              if (nftnl_set_nlmsg_parse(m, s.get()) >= 0) sets.push_back(std::move(s));
            }))
    return fail_errno("dump sets");
  for (auto& s : sets) {
    const char* name = nftnl_set_get_str(s.get(), NFTNL_SET_NAME);
    if (!dump(nl, NFT_MSG_GETSETELEM, family,
              [&](nlmsghdr* h) {
                mnl_attr_put_strz(h, NFTA_SET_ELEM_LIST_TABLE, table.c_str());
                mnl_attr_put_strz(h, NFTA_SET_ELEM_LIST_SET, name);
              },
              [&](const nlmsghdr* m) { nftnl_set_elems_nlmsg_parse(m, s.get()); }))
      return fail_errno(fmt::format("dump elements of {}", name));
    auto lowered = translate::nft::lower_set(s.get());
    if (!lowered) return failf(EOPNOTSUPP, "refused: set {}: {}", name, lowered.error().describe());
    t.sets.push_back(std::move(*lowered));
  }

  std::vector<std::unique_ptr<nftnl_chain, ChainDeleter>> chains;
  if (!dump(nl, NFT_MSG_GETCHAIN, family, put_table, [&](const nlmsghdr* m) {
        std::unique_ptr<nftnl_chain, ChainDeleter> c(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(m, c.get()) >= 0 && table == nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE))
          chains.push_back(std::move(c));
      }))
    return fail_errno("dump chains");
  std::string refusal;  // the first refused rule when refusals fail the dump
  for (auto& c : chains) {
    ir::Chain ic{.name = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME)};
    // Only the chain's rules matter to the probes: base chains are re-created by rule_probes'
    // own probe chain; keep them regular here so the evaluator runs nothing but the probe chain.
    if (!dump(nl, NFT_MSG_GETRULE, family,
              [&](nlmsghdr* h) {
                mnl_attr_put_strz(h, NFTA_RULE_TABLE, table.c_str());
                mnl_attr_put_strz(h, NFTA_RULE_CHAIN, ic.name.c_str());
              },
              [&](const nlmsghdr* m) {
                std::unique_ptr<nftnl_rule, RuleDeleter> r(nftnl_rule_alloc());
                if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) return;
                if (ic.name != nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN)) return;
                const uint64_t handle = nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE);
                translate::nft::LowerContext ctx{.family = irfam, .table = table, .chain = ic.name, .rule_handle = handle};
                auto lowered = translate::nft::lower_rule(r.get(), ctx);
                if (!lowered) {
                  if (refusal.empty()) refusal = lowered.error().describe();
                  out.refused.push_back({ic.name, handle, lowered.error().describe()});
                  return;
                }
                ic.rules.push_back(std::move(*lowered));
              }))
      return fail_errno("dump rules");
    t.chains.push_back(std::move(ic));
  }
  if (!refusal.empty() && !skip_refused) return failf(EOPNOTSUPP, "refused: {}", refusal);
  if (auto r = translate::passes::run_pipeline(t); !r) return failf(EOPNOTSUPP, "refused: {}", r.error().describe());
  return out;
}

Result<std::vector<ProbeFrame>> table_probes(const ir::Table& t, const ProbeRequest& req) {
  std::vector<const ir::Rule*> rules;
  for (const auto& c : t.chains)
    if (req.chain == "*") {
      for (const auto& r : c.rules) rules.push_back(&r);
    } else if (c.name == req.chain && !c.rules.empty()) {
      rules.push_back(&c.rules.front());
    }
  if (rules.empty() && req.chain != "*") return failf(ENOENT, "chain {} has no rule", req.chain);

  eval::ProbeOptions opt;
  opt.ctx.hook = ir::Hook::kPrerouting;
  opt.ctx.in = eval::Device{.name = req.in_dev, .ifindex = req.in_ifindex, .kind = "veth"};
  opt.max_set_elements = req.max_set_elements;
  std::vector<eval::Probe> all;
  for (const ir::Rule* r : rules) {
    auto probes = eval::rule_probes(t, *r, opt);
    if (!probes) return std::unexpected(std::move(probes).error());
    for (auto& p : *probes) all.push_back(std::move(p));
  }
  std::vector<ProbeFrame> out;
  std::set<ir::Bytes> seen;
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
    std::memcpy(f.data(), req.dst_mac.data(), 6);
    std::memcpy(f.data() + 6, req.src_mac.data(), 6);
    fit_ip_length(f, 14, p.what.find("cut ") != std::string::npos);
    fix_ipv4_checksum(f, 14);
    if (f.size() > 1514) continue;  // beyond the veth's MTU: cannot be sent as one frame
    if (!seen.insert(f).second) continue;
    std::string what = p.what;
    for (char& ch : what)
      if (ch == '\n') ch = ' ';
    out.push_back({std::move(f), p.expect_match, std::move(what)});
  }
  return out;
}

}  // namespace nfbpf::verify
