#include "codegen/runtime_tests/harness.h"

#include <netinet/in.h>
#include <linux/netfilter.h>

#include <cstring>

#include "codegen/abi/netfilter.h"
#include "common/packet/packet.h"

namespace nfbpf::codegen::runtime_tests {

bool l2_flavor(Flavor f) { return f == Flavor::kXdp || f == Flavor::kTcxIngress || f == Flavor::kTcxEgress; }

ir::Hook hook_for(Flavor f, ir::Hook netfilter_hook) {
  switch (f) {
    case Flavor::kNetfilter: return netfilter_hook;
    case Flavor::kXdp:
    case Flavor::kTcxIngress: return ir::Hook::kIngress;
    case Flavor::kTcxEgress: return ir::Hook::kEgress;
    case Flavor::kCgroupSkbIngress: return ir::Hook::kInput;
    default: return ir::Hook::kOutput;
  }
}

ir::Family family_for(Flavor f, ir::Family family) { return l2_flavor(f) ? ir::Family::kNetdev : family; }

eval::PacketContext context_for(Flavor f, ir::Hook hook, bool ipv6, uint32_t l2_len) {
  eval::PacketContext c;
  c.hook = hook;
  c.in.reset();
  c.out.reset();
  eval::Device lo{.name = "lo", .ifindex = 1, .type = 772};
  if (l2_flavor(f)) {
    c.family = ir::Family::kNetdev;
    c.l2_len = l2_len;
    if (f == Flavor::kTcxEgress) c.out = lo;
    else c.in = lo;
    c.pkttype = 3;  // PACKET_OTHERHOST: eth_type_trans on lo for our frames' destination MAC
  } else {
    c.family = ipv6 ? ir::Family::kIp6 : ir::Family::kIp;
    c.l2_len = 0;
    // Netfilter test runs: state->in is NULL and state->out is the loopback device at every hook
    // (measured); cgroup_skb programs read no devices.
    // pkt_type: test runs of netfilter programs at any hook but LOCAL_OUT (and of cgroup_skb)
    // pass the frame through eth_type_trans on lo: PACKET_OTHERHOST; LOCAL_OUT runs keep 0.
    if (f == Flavor::kNetfilter) c.out = lo;
    if (f != Flavor::kNetfilter || hook != ir::Hook::kOutput) c.pkttype = 3;
  }
  // skb->dev (meta iiftype): eth_type_trans on lo sets it; netfilter LOCAL_OUT runs have none.
  if (f != Flavor::kNetfilter || hook != ir::Hook::kOutput) c.skb_dev = lo;
  // skb->sk: test runs of skb programs (tc, cgroup_skb) own the skb by a dummy full socket with no
  // struct socket (meta cgroup reads its classid 0, skuid/skgid break); netfilter runs have none.
  if (f != Flavor::kNetfilter && f != Flavor::kXdp) c.cgroup_classid = 0;
  return c;
}

namespace {

std::vector<uint8_t> with_ether(std::span<const uint8_t> l3, bool v6) {
  static const uint8_t kHdr[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  std::vector<uint8_t> f(14 + l3.size());
  std::memcpy(f.data(), kHdr, 12);
  f[12] = v6 ? 0x86 : 0x08;
  f[13] = v6 ? 0xdd : 0x00;
  if (!l3.empty()) std::memcpy(f.data() + 14, l3.data(), l3.size());
  return f;
}

uint8_t nf_hook(ir::Hook h) {
  switch (h) {
    case ir::Hook::kPrerouting: return NF_INET_PRE_ROUTING;
    case ir::Hook::kInput: return NF_INET_LOCAL_IN;
    case ir::Hook::kForward: return NF_INET_FORWARD;
    case ir::Hook::kOutput: return NF_INET_LOCAL_OUT;
    default: return NF_INET_POST_ROUTING;
  }
}

}  // namespace

std::string verdict_name(ir::VerdictKind v) { return std::string(v == ir::VerdictKind::kAccept ? "accept" : v == ir::VerdictKind::kDrop ? "drop" : "?"); }

TestPacket packet_of(const eval::Probe& p) {
  TestPacket t{p.frame, p.ctx.l2_len, false};
  if (p.frame.size() > p.ctx.l2_len) t.ipv6 = (p.frame[p.ctx.l2_len] >> 4) == 6;
  if (p.ctx.family == ir::Family::kIp6) t.ipv6 = true;
  return t;
}

Result<ChainRun> ChainRun::create(kernel::Kernel& k, chain::RuntimeTables& rt, const ir::Table& t,
                                  const std::string& base_chain, Flavor f, const chain::BlockLimits& blocks) {
  const ir::Chain* c = ir::find_chain(t, base_chain);
  if (!c || !c->base) return failf(EINVAL, "no base chain '{}'", base_chain);
  chain::CompileOptions opt = rt.options();
  opt.blocks = blocks;
  auto cc = chain::compile_chain(t, *c, f, opt);
  if (!cc) return std::unexpected(std::move(cc).error());
  auto cc_ptr = std::make_shared<chain::CompiledChain>(std::move(*cc));
  auto loaded = chain::load_chain(k, *cc_ptr, rt);
  if (!loaded) return std::unexpected(std::move(loaded).error());
  ChainRun r;
  r.t_ = &t;
  r.chain_ = c;
  r.f_ = f;
  r.hook_ = c->base->hook;
  r.cc_ = std::move(cc_ptr);
  r.loaded_ = std::make_shared<chain::LoadedChain>(std::move(*loaded));
  return r;
}

Result<ir::VerdictKind> ChainRun::run_bpf(const TestPacket& pkt, uint32_t repeat, uint32_t* duration_ns) const {
  const auto& ops = flavor::flavor_ops(f_);
  std::span<const uint8_t> l3(pkt.frame.data() + pkt.l2_len, pkt.frame.size() - pkt.l2_len);
  std::vector<uint8_t> data;
  abi::NfHookStateIn st{};
  std::span<const uint8_t> ctx;
  if (f_ == Flavor::kNetfilter) {
    st.hook = nf_hook(hook_);
    st.pf = pkt.ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
    ctx = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&st), sizeof st);
    if (st.hook == NF_INET_LOCAL_OUT) data.assign(l3.begin(), l3.end());
    else data = with_ether(l3, pkt.ipv6);
  } else if (l2_flavor(f_)) {
    data = pkt.l2_len ? pkt.frame : with_ether(l3, pkt.ipv6);
  } else {
    data = with_ether(l3, pkt.ipv6);
  }
  auto r = loaded_->prog.test_run({.data_in = data, .ctx_in = ctx, .repeat = repeat});
  if (!r) return std::unexpected(std::move(r).error());
  if (duration_ns) *duration_ns = r->duration_ns;
  if (static_cast<int32_t>(r->retval) == ops.accept) return ir::VerdictKind::kAccept;
  if (static_cast<int32_t>(r->retval) == ops.drop) return ir::VerdictKind::kDrop;
  return failf(EINVAL, "unexpected program return {}", r->retval);
}

bool ChainRun::applies(const TestPacket& pkt) const {
  if (t_->family == ir::Family::kIp) return !pkt.ipv6;
  if (t_->family == ir::Family::kIp6) return pkt.ipv6;
  return true;
}

Result<ir::VerdictKind> ChainRun::run_eval(const TestPacket& pkt) {
  eval::PacketContext c = context_for(f_, hook_, pkt.ipv6, pkt.l2_len);
  std::vector<uint8_t> frame = pkt.frame;
  if (l2_flavor(f_) && pkt.l2_len == 0) {
    frame = with_ether(frame, pkt.ipv6);
    c.l2_len = 14;
  }
  if (!l2_flavor(f_) && pkt.l2_len) frame.erase(frame.begin(), frame.begin() + pkt.l2_len);
  auto r = eval::evaluate_chain(*t_, *chain_, c, frame, state_);
  if (!r) return std::unexpected(std::move(r).error());
  last_eval_ = *r;
  return r->verdict;
}

Result<std::pair<ir::VerdictKind, ir::VerdictKind>> ChainRun::run_both(const TestPacket& pkt) {
  auto b = run_bpf(pkt);
  if (!b) return std::unexpected(std::move(b).error());
  auto e = run_eval(pkt);
  if (!e) return std::unexpected(std::move(e).error());
  return std::pair{*b, *e};
}

}  // namespace nfbpf::codegen::runtime_tests
