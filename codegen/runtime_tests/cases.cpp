#include "codegen/runtime_tests/cases.h"

#include <fmt/format.h>

#include "translate/ir/build.h"
#include "translate/ir/fields.h"

namespace nfbpf::codegen::runtime_tests {

namespace {

using ir::KnownField;
namespace b = ir::build;

ir::Field payload(ir::Base base, uint32_t off, uint32_t len, ir::Proto p) {
  return ir::Field{.base = base, .offset = off, .len = len, .proto = p};
}

std::string width(uint32_t len) {
  return len == 1 || len == 2 || len == 4 || len == 8 || len == 16 ? std::to_string(len) : "other";
}

// v + d on the byte that orders last (memcmp order) for network-order keys, the first for
// host-order integers: small moves that stay inside the value's neighbourhood.
// For a concatenation: the last real byte of the last part (not its padding).
ir::Bytes nudge(const std::vector<ir::Field>& key, const ir::Bytes& v, int d, bool host) {
  ir::Bytes r = v;
  size_t i = host ? 0 : r.size() - 1;
  if (key.size() > 1) {
    size_t off = 0;
    for (size_t k = 0; k + 1 < key.size(); ++k) off += (key[k].len + 3) & ~3u;
    i = off + key.back().len - 1;
  }
  r[i] = static_cast<uint8_t>(r[i] + d);
  return r;
}

bool host_key(const std::vector<ir::Field>& key) { return key.size() == 1 && key[0].host_order && key[0].len <= 8; }

}  // namespace

std::string_view op_name(OpVariant v) {
  static constexpr std::string_view kNames[] = {"eq", "ne", "lt", "le", "gt", "ge", "range", "not-range",
                                                "masked-eq", "in-set", "not-in-set", "in-interval-set",
                                                "not-in-interval-set"};
  static_assert(std::size(kNames) == static_cast<size_t>(OpVariant::kCount));
  return kNames[static_cast<size_t>(v)];
}

std::string field_kind(const std::vector<ir::Field>& key) {
  if (key.size() > 1) return "concat";
  const ir::Field& f = key[0];
  switch (f.base) {
    case ir::Base::kLink: return "link/" + width(f.len);
    case ir::Base::kNetwork: return "network/" + width(f.len);
    case ir::Base::kTransport: return "transport/" + width(f.len);
    case ir::Base::kMeta: return fmt::format("meta/{}", ir::to_string(static_cast<ir::MetaKey>(f.key)));
    case ir::Base::kCt: return fmt::format("ct/{}", ir::to_string(static_cast<ir::CtKey>(f.key)));
    default: return "?";
  }
}

const std::vector<BaseCase>& base_cases() {
  static const std::vector<BaseCase> cases = [] {
    using F = ir::Family;
    auto kf = [](KnownField k) { return std::vector<ir::Field>{ir::known_field(k)}; };
    std::vector<BaseCase> c;
    c.push_back({"", F::kIp, kf(KnownField::kIp4Ttl), {0x40}});
    c.push_back({"", F::kIp, kf(KnownField::kIp4Id), {0x12, 0x34}});
    c.push_back({"", F::kIp, kf(KnownField::kIp4Saddr), {10, 1, 2, 30}});
    c.push_back({"", F::kIp, {payload(ir::Base::kNetwork, 12, 8, ir::Proto::kIp4)}, {10, 1, 2, 3, 10, 1, 2, 40}});
    c.push_back({"", F::kIp6, kf(KnownField::kIp6Saddr), *b::ip6("2001:db8::1:20")});
    c.push_back({"", F::kIp, {payload(ir::Base::kNetwork, 12, 3, ir::Proto::kIp4)}, {10, 1, 20}});
    c.push_back({"", F::kInet, kf(KnownField::kTcpFlags), {0x12}});
    c.push_back({"", F::kInet, kf(KnownField::kTcpDport), b::be16(22)});
    c.push_back({"", F::kInet, kf(KnownField::kTcpSeq), {1, 2, 3, 40}});
    c.push_back({"", F::kInet, {payload(ir::Base::kTransport, 4, 8, ir::Proto::kTcp)}, {1, 2, 3, 4, 5, 6, 7, 80}});
    c.push_back({"", F::kInet, {payload(ir::Base::kTransport, 0, 3, ir::Proto::kTcp)}, {0x9c, 0x40, 0x20}});
    c.push_back({"", F::kInet, {payload(ir::Base::kTransport, 0, 16, ir::Proto::kTcp)},
                 {0x9c, 0x40, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x10, 0xfa, 0x20}});
    c.push_back({"", F::kNetdev, {payload(ir::Base::kLink, 12, 2, ir::Proto::kEth)}, b::be16(0x0800)});
    c.push_back({"", F::kNetdev, {payload(ir::Base::kLink, 0, 6, ir::Proto::kEth)}, {2, 0, 0, 0, 0, 0x20}});
    c.push_back({"", F::kNetdev, {payload(ir::Base::kLink, 5, 1, ir::Proto::kEth)}, {0x20}});
    c.push_back({"", F::kNetdev, {payload(ir::Base::kLink, 2, 4, ir::Proto::kEth)}, {0, 0, 0, 0x20}});
    c.push_back({"", F::kNetdev, {payload(ir::Base::kLink, 0, 8, ir::Proto::kEth)}, {2, 0, 0, 0, 0, 2, 2, 0x20}});
    c.push_back({"", F::kNetdev, {payload(ir::Base::kLink, 0, 16, ir::Proto::kEth)},
                 {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0x20}});
    c.push_back({"", F::kInet, kf(KnownField::kMetaNfProto), {2}});
    c.push_back({"", F::kInet, kf(KnownField::kMetaL4Proto), {6}});
    c.push_back({"", F::kInet, kf(KnownField::kMetaProtocol), b::be16(0x0800)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaLen), b::host32(60)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaMark), b::host32(0x20)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaPriority), b::host32(0x20)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaIif), b::host32(1)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaOif), b::host32(1)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaIifName), b::ifname("lo")});
    c.push_back({"", F::kInet, kf(KnownField::kMetaOifName), b::ifname("lo")});
    c.push_back({"", F::kInet, kf(KnownField::kCtState), b::host32(1)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaPktType), {3}});
    // Device, socket and CPU keys with the values test runs present (harness.h): lo (group 0,
    // type 772), the dummy socket's classid 0, CPU 0 (the table pins itself there). Keys a test
    // run cannot supply at all (skuid/skgid: no struct socket; iifgroup at netfilter: no input
    // device) agree on breaking here and are proved live (live_meta_test.cpp).
    auto meta = [](ir::MetaKey k, uint32_t len) {
      return std::vector<ir::Field>{ir::Field{.base = ir::Base::kMeta, .len = len, .key = static_cast<uint8_t>(k), .host_order = true}};
    };
    c.push_back({"", F::kInet, meta(ir::MetaKey::kIifGroup, 4), b::host32(0)});
    c.push_back({"", F::kInet, meta(ir::MetaKey::kOifGroup, 4), b::host32(0)});
    c.push_back({"", F::kInet, meta(ir::MetaKey::kIifType, 2), {0x04, 0x03}});
    c.push_back({"", F::kInet, meta(ir::MetaKey::kOifType, 2), {0x04, 0x03}});
    c.push_back({"", F::kInet, kf(KnownField::kMetaSkUid), b::host32(0)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaSkGid), b::host32(0)});
    c.push_back({"", F::kInet, meta(ir::MetaKey::kCgroup, 4), b::host32(0)});
    c.push_back({"", F::kInet, kf(KnownField::kMetaCpu), b::host32(0)});
    // rt keys: test runs have no route (skb_dst NULL), so they agree on breaking; LiveMeta proves them.
    c.push_back({"", F::kInet, meta(ir::MetaKey::kRtClassid, 4), b::host32(0)});
    c.push_back({"", F::kInet, meta(ir::MetaKey::kRtIpsec, 1), {0}});
    c.push_back({"", F::kIp, {ir::Field{.base = ir::Base::kMeta, .len = 4, .key = static_cast<uint8_t>(ir::MetaKey::kRtNexthop4)}}, {10, 1, 2, 40}});
    c.push_back({"", F::kIp6, {ir::Field{.base = ir::Base::kMeta, .len = 16, .key = static_cast<uint8_t>(ir::MetaKey::kRtNexthop6)}}, *b::ip6("2001:db8::2")});
    // Nondeterministic keys: compiled and loaded on every flavor here, their values checked by
    // MetaClock.* / MetaRandom.* (the matcher table skips running them, see kNotReproducible).
    c.push_back({"", F::kInet, meta(ir::MetaKey::kRandom, 4), b::host32(0x10)});
    c.push_back({"", F::kInet, meta(ir::MetaKey::kTime, 8), {0, 0, 0, 0, 0, 0, 0, 0x10}});
    c.push_back({"", F::kInet, meta(ir::MetaKey::kDay, 1), {3}});
    c.push_back({"", F::kInet, meta(ir::MetaKey::kHour, 4), b::host32(3600)});
    // ct keys beyond state: a test run never has a conntrack entry, so BPF and the evaluator
    // agree that these break on every packet; live_ct_test.cpp proves the values on real
    // connections against the kernel's own nft.
    auto ct = [](ir::CtKey k, uint32_t len, ir::CtDir dir = ir::CtDir::kAny) {
      ir::Field f{.base = ir::Base::kCt, .len = len, .key = static_cast<uint8_t>(k), .dir = dir};
      f.host_order = ir::natively_host_order(f);
      return std::vector<ir::Field>{f};
    };
    c.push_back({"", F::kInet, ct(ir::CtKey::kDirection, 1), {1}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kStatus, 4), b::host32(8)});
    c.push_back({"", F::kInet, ct(ir::CtKey::kMark, 4), b::host32(0x20)});
    c.push_back({"", F::kInet, ct(ir::CtKey::kSecmark, 4), b::host32(0)});
    c.push_back({"", F::kInet, ct(ir::CtKey::kExpiration, 4), b::host32(30000)});
    c.push_back({"", F::kInet, ct(ir::CtKey::kL3Proto, 1), {2}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kProtocol, 1), {6}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kZone, 2, ir::CtDir::kReply), {0, 0}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kSrc, 16, ir::CtDir::kOriginal), *b::ip6("2001:db8::1")});
    c.push_back({"", F::kIp, ct(ir::CtKey::kDst, 4, ir::CtDir::kReply), {10, 1, 2, 30}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kProtoSrc, 2, ir::CtDir::kOriginal), b::be16(40000)});
    c.push_back({"", F::kInet, ct(ir::CtKey::kProtoDst, 2, ir::CtDir::kReply), b::be16(40000)});
    c.push_back({"", F::kInet, ct(ir::CtKey::kSrcIp, 4, ir::CtDir::kOriginal), {10, 1, 2, 30}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kDstIp, 4, ir::CtDir::kReply), {10, 1, 2, 30}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kSrcIp6, 16, ir::CtDir::kReply), *b::ip6("2001:db8::1")});
    c.push_back({"", F::kInet, ct(ir::CtKey::kDstIp6, 16, ir::CtDir::kOriginal), *b::ip6("2001:db8::1")});
    c.push_back({"", F::kInet, ct(ir::CtKey::kPkts, 8, ir::CtDir::kOriginal), {3, 0, 0, 0, 0, 0, 0, 0}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kBytes, 8), {0, 1, 0, 0, 0, 0, 0, 0}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kHelper, 16), {'f', 't', 'p', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kAvgPkt, 8, ir::CtDir::kReply), {60, 0, 0, 0, 0, 0, 0, 0}});
    c.push_back({"", F::kInet, ct(ir::CtKey::kLabels, 16), ir::Bytes(16, 0)});
    // ip saddr . tcp dport (each part padded to 4 bytes)
    c.push_back({"", F::kIp, {ir::known_field(KnownField::kIp4Saddr), ir::known_field(KnownField::kTcpDport)},
                 {10, 1, 2, 30, 0, 22, 0, 0}});
    for (auto& x : c) x.kind = field_kind(x.key);
    return c;
  }();
  return cases;
}

MatcherCase expand(const BaseCase& bc, OpVariant op, flavor::Flavor f) {
  bool l2 = f == flavor::Flavor::kXdp || f == flavor::Flavor::kTcxIngress || f == flavor::Flavor::kTcxEgress;
  MatcherCase mc;
  mc.kind = bc.kind;
  mc.op = op;
  mc.name = fmt::format("{} {}", bc.kind, op_name(op));
  mc.table = ir::Table{.family = l2 ? ir::Family::kNetdev : bc.family, .name = "t"};
  ir::Match m{.key = bc.key};
  bool host = host_key(bc.key);
  switch (op) {
    case OpVariant::kEq: m.op = ir::Op::kEq; m.value = bc.value; break;
    case OpVariant::kNe: m.op = ir::Op::kNe; m.value = bc.value; break;
    case OpVariant::kLt: m.op = ir::Op::kLt; m.value = bc.value; break;
    case OpVariant::kLe: m.op = ir::Op::kLe; m.value = bc.value; break;
    case OpVariant::kGt: m.op = ir::Op::kGt; m.value = bc.value; break;
    case OpVariant::kGe: m.op = ir::Op::kGe; m.value = bc.value; break;
    case OpVariant::kRange:
    case OpVariant::kNotRange:
      m.op = op == OpVariant::kRange ? ir::Op::kRange : ir::Op::kNotRange;
      m.value = nudge(bc.key, bc.value, -2, host);
      m.value_hi = nudge(bc.key, bc.value, +2, host);
      break;
    case OpVariant::kMaskedEq: {
      m.op = ir::Op::kEq;
      ir::Bytes mask(bc.value.size(), 0xff);
      // Clear the low nibble of the byte that moves in the probes and of the last byte.
      mask[host ? 0 : mask.size() - 1] = 0xf0;
      if (mask.size() > 2) mask[mask.size() / 2] = 0x0f;
      m.mask = mask;
      m.value = bc.value;
      for (size_t i = 0; i < m.value.size(); ++i) m.value[i] &= mask[i];
      break;
    }
    case OpVariant::kInSet:
    case OpVariant::kNotInSet:
    case OpVariant::kInIntervalSet:
    case OpVariant::kNotInIntervalSet: {
      bool interval = op == OpVariant::kInIntervalSet || op == OpVariant::kNotInIntervalSet;
      m.op = op == OpVariant::kInSet || op == OpVariant::kInIntervalSet ? ir::Op::kInSet : ir::Op::kNotInSet;
      m.set = "s";
      ir::Set s{.name = "s", .flags = interval ? static_cast<uint32_t>(ir::kSetInterval) : 0u,
                .key_len = static_cast<uint32_t>(bc.value.size())};
      for (const auto& fld : bc.key) s.key_parts.push_back(fld.len);
      if (bc.key.size() > 1) s.flags |= ir::kSetConcat;
      // Intervals are in memcmp order (the kernel's): nudge the last byte.
      if (interval) {
        // (concatenations: earlier parts exact, the last one ranged)
        s.elements.push_back(ir::Element{.key = nudge(bc.key, bc.value, -2, false), .key_end = nudge(bc.key, bc.value, +2, false)});
        s.elements.push_back(ir::Element{.key = nudge(bc.key, bc.value, +10, false), .key_end = nudge(bc.key, bc.value, +20, false)});
      } else {
        s.elements.push_back(ir::Element{.key = bc.value});
        s.elements.push_back(ir::Element{.key = nudge(bc.key, bc.value, +3, host)});
      }
      mc.table.sets.push_back(std::move(s));
      break;
    }
    default: break;
  }
  mc.match = m;
  ir::Chain c{.name = "c", .handle = 1, .base = ir::BaseHook{}, .policy = ir::VerdictKind::kDrop};
  c.rules.push_back(ir::Rule{.handle = 2, .steps = {m}, .verdict = b::accept()});
  mc.table.chains.push_back(std::move(c));
  return mc;
}

std::vector<std::pair<std::string, std::vector<ir::Field>>> all_field_kinds() {
  std::vector<std::pair<std::string, std::vector<ir::Field>>> out;
  for (ir::Base base : {ir::Base::kLink, ir::Base::kNetwork, ir::Base::kTransport})
    for (uint32_t len : {1u, 2u, 3u, 4u, 8u, 16u}) {
      std::vector<ir::Field> k{payload(base, 0, len, ir::Proto::kRaw)};
      out.emplace_back(field_kind(k), k);
    }
  for (uint8_t m = 0; m < static_cast<uint8_t>(ir::MetaKey::kCount); ++m) {
    auto key = static_cast<ir::MetaKey>(m);
    uint32_t len = key == ir::MetaKey::kIifName || key == ir::MetaKey::kOifName || key == ir::MetaKey::kRtNexthop6 ? 16
                   : key == ir::MetaKey::kTime ? 8
                   : key == ir::MetaKey::kNfProto || key == ir::MetaKey::kL4Proto || key == ir::MetaKey::kDay ||
                             key == ir::MetaKey::kRtIpsec ? 1
                   : key == ir::MetaKey::kProtocol || key == ir::MetaKey::kIifType || key == ir::MetaKey::kOifType ? 2 : 4;
    std::vector<ir::Field> k{ir::Field{.base = ir::Base::kMeta, .len = len, .key = m, .host_order = len <= 8}};
    out.emplace_back(field_kind(k), k);
  }
  for (uint8_t c = 0; c < static_cast<uint8_t>(ir::CtKey::kCount); ++c) {
    std::vector<ir::Field> k{ir::Field{.base = ir::Base::kCt, .len = 4, .key = c, .host_order = true}};
    out.emplace_back(field_kind(k), k);
    // Each key also at every width with a direction, as nft gives tuple keys (1, 2, 4, 16 bytes).
    for (uint32_t len : {1u, 2u, 8u, 16u}) {
      ir::Field f{.base = ir::Base::kCt, .len = len, .key = c, .dir = ir::CtDir::kOriginal};
      f.host_order = ir::natively_host_order(f);
      out.emplace_back(field_kind({f}), std::vector<ir::Field>{f});
    }
  }
  std::vector<ir::Field> cat{payload(ir::Base::kNetwork, 12, 4, ir::Proto::kIp4), payload(ir::Base::kTransport, 2, 2, ir::Proto::kTcp)};
  out.emplace_back(field_kind(cat), cat);
  return out;
}

}  // namespace nfbpf::codegen::runtime_tests
