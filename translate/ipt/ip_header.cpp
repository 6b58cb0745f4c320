#include "translate/ipt/ip_header.h"

#include <linux/netfilter.h>

#include <algorithm>
#include <cstring>

#include "translate/ir/build.h"

namespace nfbpf::translate::ipt {

namespace {

using KF = ir::KnownField;
namespace b = ir::build;

bool all(const uint8_t* p, size_t n, uint8_t v) {
  return std::all_of(p, p + n, [v](uint8_t c) { return c == v; });
}

// (addr & mask) != want ends the match (xor the inversion). A zero mask and zero address always
// holds unless inverted (then never): emitted as is, so "! -s 0/0" keeps the kernel's meaning.
void address(KF f, const uint8_t* addr, const uint8_t* mask, size_t n, bool invert, std::vector<ir::Step>& steps) {
  if (!invert && all(mask, n, 0) && all(addr, n, 0)) return;
  ir::Match m{.key = {ir::known_field(f)}, .op = invert ? ir::Op::kNe : ir::Op::kEq, .value = ir::Bytes(addr, addr + n)};
  if (!all(mask, n, 0xff)) m.mask = ir::Bytes(mask, mask + n);
  steps.push_back(std::move(m));
}

constexpr uint32_t bit(unsigned hook) { return 1u << hook; }

// ifname_compare_aligned(): ((dev ^ name) & mask) != 0 is a mismatch. iptables masks the name and
// its NUL ("eth0"), or only the prefix for "eth+". Without a device the kernel compares with an
// empty name: a plain test then never holds, as the IR's (the meta load breaks), but an inverted
// one always holds, which the IR cannot say: refused at those hooks.
Result<void> iface(KF f, const char* name, const unsigned char* mask, bool invert, uint32_t hooks_without_dev,
                   std::vector<ir::Step>& steps, const EntryContext& ctx) {
  const auto* m = reinterpret_cast<const uint8_t*>(mask);
  if (all(m, IFNAMSIZ, 0)) {
    if (invert) steps.push_back(b::masked(f, ir::Bytes(IFNAMSIZ, 0), ir::Op::kNe, ir::Bytes(IFNAMSIZ, 0)));
    return {};
  }
  if (invert && (ctx.hooks & hooks_without_dev))
    return failf(EOPNOTSUPP, "! {}: at a hook without that device the kernel compares an empty name ({})",
                 f == KF::kMetaIifName ? "-i" : "-o", ctx.where());
  ir::Bytes value(IFNAMSIZ);
  for (size_t i = 0; i < IFNAMSIZ; ++i) value[i] = static_cast<uint8_t>(name[i]) & m[i];
  ir::Bytes mb(m, m + IFNAMSIZ);
  ir::Match match{.key = {ir::known_field(f)}, .op = invert ? ir::Op::kNe : ir::Op::kEq, .value = value};
  if (!all(m, IFNAMSIZ, 0xff)) match.mask = mb;
  steps.push_back(std::move(match));
  return {};
}

constexpr uint32_t kNoInDev = bit(NF_INET_LOCAL_OUT) | bit(NF_INET_POST_ROUTING);
constexpr uint32_t kNoOutDev = bit(NF_INET_PRE_ROUTING) | bit(NF_INET_LOCAL_IN);

ir::Bytes host16(uint16_t v) {
  ir::Bytes b(2);
  std::memcpy(b.data(), &v, 2);
  return b;
}

}  // namespace

ir::Field xt6_l4proto_field() {
  return ir::Field{.base = ir::Base::kMeta, .len = 2, .key = static_cast<uint8_t>(ir::MetaKey::kXtL4Proto), .host_order = true};
}

ir::Match xt6_walk_failed() {
  return ir::Match{.key = {xt6_l4proto_field()}, .op = ir::Op::kEq, .value = host16(ir::kXtWalkFailed)};
}

Result<void> lower_ip_header(const ipt_ip& ip, std::vector<ir::Step>& steps, const EntryContext& ctx) {
  address(KF::kIp4Saddr, reinterpret_cast<const uint8_t*>(&ip.src), reinterpret_cast<const uint8_t*>(&ip.smsk), 4,
          ip.invflags & IPT_INV_SRCIP, steps);
  address(KF::kIp4Daddr, reinterpret_cast<const uint8_t*>(&ip.dst), reinterpret_cast<const uint8_t*>(&ip.dmsk), 4,
          ip.invflags & IPT_INV_DSTIP, steps);
  NFBPF_TRYV(iface(KF::kMetaIifName, ip.iniface, ip.iniface_mask, ip.invflags & IPT_INV_VIA_IN, kNoInDev, steps, ctx));
  NFBPF_TRYV(iface(KF::kMetaOifName, ip.outiface, ip.outiface_mask, ip.invflags & IPT_INV_VIA_OUT, kNoOutDev, steps, ctx));
  // "-p 0" (all) tests nothing, inverted or not.
  if (ip.proto != 0)
    steps.push_back(b::cmp(KF::kIp4Protocol, (ip.invflags & IPT_INV_PROTO) ? ir::Op::kNe : ir::Op::kEq, b::u8(ip.proto)));
  // NF_INVF(IPT_INV_FRAG, (flags & IPT_F_FRAG) && !isfrag), isfrag = frag_off & IP_OFFSET.
  const bool frag = ip.flags & IPT_F_FRAG, inv = ip.invflags & IPT_INV_FRAG;
  if (frag)
    steps.push_back(b::masked(KF::kIp4FragOff, b::be16(0x1fff), inv ? ir::Op::kEq : ir::Op::kNe, b::be16(0)));
  else if (inv)  // never holds
    steps.push_back(b::masked(KF::kIp4FragOff, b::be16(0), ir::Op::kNe, b::be16(0)));
  return {};
}

Result<void> lower_ip_header(const ip6t_ip6& ip, std::vector<ir::Step>& steps, const EntryContext& ctx) {
  address(KF::kIp6Saddr, reinterpret_cast<const uint8_t*>(&ip.src), reinterpret_cast<const uint8_t*>(&ip.smsk), 16,
          ip.invflags & IP6T_INV_SRCIP, steps);
  address(KF::kIp6Daddr, reinterpret_cast<const uint8_t*>(&ip.dst), reinterpret_cast<const uint8_t*>(&ip.dmsk), 16,
          ip.invflags & IP6T_INV_DSTIP, steps);
  NFBPF_TRYV(iface(KF::kMetaIifName, ip.iniface, ip.iniface_mask, ip.invflags & IP6T_INV_VIA_IN, kNoInDev, steps, ctx));
  NFBPF_TRYV(iface(KF::kMetaOifName, ip.outiface, ip.outiface_mask, ip.invflags & IP6T_INV_VIA_OUT, kNoOutDev, steps, ctx));
  // Legacy ip6 tables: the protocol of ip6_tables' own walk (through AH). A failed walk drops the
  // packet before this test (lower_table.cpp's guard rule, xt6_walk_failed()), so here the walk
  // found a protocol: "-p all" (inverted or not) then always holds, and "! -p X" is just != X.
  if ((ip.flags & IP6T_F_PROTO) && ctx.xt6_walk) {
    if (ip.proto > 255) return failf(EINVAL, "protocol {} ({})", ip.proto, ctx.where());
    if (ip.proto != 0)
      steps.push_back(ir::Match{.key = {xt6_l4proto_field()}, .op = (ip.invflags & IP6T_INV_PROTO) ? ir::Op::kNe : ir::Op::kEq,
                                .value = host16(ip.proto)});
    return {};
  }
  // iptables-nft's rules (nft_compat): the upper-layer protocol is nft's meta l4proto (its walk
  // stops at AH); no protocol found never matches, neither does "-p all" then: l4proto & 0 == 0
  // needs one.
  if (ip.flags & IP6T_F_PROTO) {
    if (ip.proto == 0)
      steps.push_back(b::masked(KF::kMetaL4Proto, {0}, ir::Op::kEq, {0}));
    else if (ip.proto > 255)
      return failf(EINVAL, "protocol {} ({})", ip.proto, ctx.where());
    else
      steps.push_back(b::cmp(KF::kMetaL4Proto, (ip.invflags & IP6T_INV_PROTO) ? ir::Op::kNe : ir::Op::kEq,
                             b::u8(static_cast<uint8_t>(ip.proto))));
  }
  return {};
}

}  // namespace nfbpf::translate::ipt
