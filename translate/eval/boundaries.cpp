#include "translate/eval/boundaries.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/packet/packet.h"
#include "translate/eval/eval.h"
#include "translate/eval/exthdr.h"
#include "translate/eval/load.h"
#include "translate/eval/sets.h"
#include "translate/ir/fields.h"
#include "translate/ir/fields.h"

namespace nfbpf::eval {

namespace {

using ir::Bytes;

// ---- key arithmetic -------------------------------------------------------------------------

// v + delta in the given byte order; nullopt when it wraps.
std::optional<Bytes> add(Bytes v, int delta, bool little_endian) {
  size_t n = v.size();
  for (size_t k = 0; k < n; ++k) {
    size_t i = little_endian ? k : n - 1 - k;
    if (delta > 0) {
      if (++v[i] != 0) return v;
    } else {
      if (v[i]-- != 0) return v;
    }
  }
  return std::nullopt;
}

struct Cand {
  std::string label;
  Bytes key;  // register layout of the whole match key
};

uint32_t slot(const ir::Field& f, size_t nfields) { return nfields == 1 ? f.len : (f.len + 3) & ~3u; }

std::string name_of(const ir::Field& f) {
  if (auto n = ir::field_name(f)) return std::string(*n);
  return fmt::format("{}[{}:{}]", to_string_base(f.base), f.offset, f.len);
}

std::string label_of(const std::vector<ir::Field>& key) {
  std::string s;
  for (const auto& f : key) s += (s.empty() ? "" : " . ") + name_of(f);
  return s;
}

// +-1 on one part of a (possibly concatenated) key, in that part's byte order.
std::optional<Bytes> add_part(const std::vector<ir::Field>& key, const Bytes& reg, size_t part, int delta) {
  size_t off = 0;
  for (size_t i = 0; i < part; ++i) off += slot(key[i], key.size());
  const ir::Field& f = key[part];
  Bytes piece(reg.begin() + off, reg.begin() + off + f.len);
  auto moved = add(piece, delta, f.host_order);
  if (!moved) return std::nullopt;
  Bytes out = reg;
  std::copy(moved->begin(), moved->end(), out.begin() + off);
  return out;
}

std::optional<Bytes> add_all_parts(const std::vector<ir::Field>& key, const Bytes& reg, int delta) {
  if (key.size() == 1) return add_part(key, reg, 0, delta);
  return std::nullopt;  // +-1 of a concatenation is per part
}

void value_neighbours(const std::vector<ir::Field>& key, const Bytes& v, std::string_view name, std::vector<Cand>& out) {
  if (key.size() == 1) {
    if (auto m = add_all_parts(key, v, -1)) out.push_back({fmt::format("{}-1", name), *m});
    out.push_back({std::string(name), v});
    if (auto p = add_all_parts(key, v, +1)) out.push_back({fmt::format("{}+1", name), *p});
    return;
  }
  out.push_back({std::string(name), v});
  for (size_t i = 0; i < key.size(); ++i) {
    if (auto m = add_part(key, v, i, -1)) out.push_back({fmt::format("{} part {}-1", name, i), *m});
    if (auto p = add_part(key, v, i, +1)) out.push_back({fmt::format("{} part {}+1", name, i), *p});
  }
}

void set_candidates(const ir::Set& s, const std::vector<ir::Field>& key, size_t max, std::vector<Cand>& out) {
  bool interval = s.flags & ir::kSetInterval;
  for (size_t i = 0; i < s.elements.size() && i < max; ++i) {
    const ir::Element& e = s.elements[i];
    if (e.key.size() != s.key_len) continue;
    if (!interval || e.key_end.empty()) {
      value_neighbours(key, e.key, fmt::format("element {}", i), out);
      continue;
    }
    if (key.size() == 1) {
      if (auto m = add_part(key, e.key, 0, -1)) out.push_back({fmt::format("element {} start-1", i), *m});
      out.push_back({fmt::format("element {} start", i), e.key});
      out.push_back({fmt::format("element {} end", i), e.key_end});
      if (auto p = add_part(key, e.key_end, 0, +1)) out.push_back({fmt::format("element {} end+1", i), *p});
      continue;
    }
    // Concatenated intervals: one part at a time to its edges, the others at their start.
    out.push_back({fmt::format("element {} start", i), e.key});
    size_t off = 0;
    for (size_t p = 0; p < key.size(); ++p) {
      uint32_t sl = slot(key[p], key.size());
      Bytes at_end = e.key;
      std::copy(e.key_end.begin() + off, e.key_end.begin() + off + sl, at_end.begin() + off);
      out.push_back({fmt::format("element {} part {} end", i, p), at_end});
      if (auto m = add_part(key, e.key, p, -1)) out.push_back({fmt::format("element {} part {} start-1", i, p), *m});
      if (auto q = add_part(key, at_end, p, +1)) out.push_back({fmt::format("element {} part {} end+1", i, p), *q});
      off += sl;
    }
  }
}

Result<std::vector<Cand>> candidates(const ir::Table& t, const ir::Match& m, size_t max_elems) {
  std::vector<Cand> out;
  size_t n = m.value.size();
  switch (m.op) {
    case ir::Op::kEq:
    case ir::Op::kNe: {
      out.push_back({"value", m.value});
      size_t bits = n * 8;
      for (size_t b = 0; b < bits; ++b) {
        uint8_t bit = static_cast<uint8_t>(0x80 >> (b % 8));
        bool covered = !m.mask || ((*m.mask)[b / 8] & bit);
        if (!covered) continue;
        Bytes v = m.value;
        v[b / 8] ^= bit;
        out.push_back({fmt::format("value bit {} flipped", b), v});
      }
      if (m.mask) {  // first and last uncovered bits: the mask must hide them
        std::optional<size_t> first, last;
        for (size_t b = 0; b < bits; ++b)
          if (!((*m.mask)[b / 8] & (0x80 >> (b % 8)))) {
            if (!first) first = b;
            last = b;
          }
        for (auto b : {first, last}) {
          if (!b) continue;
          Bytes v = m.value;
          v[*b / 8] ^= static_cast<uint8_t>(0x80 >> (*b % 8));
          out.push_back({fmt::format("value, uncovered bit {} flipped", *b), v});
        }
        // Flag combinations: every subset of a small mask.
        size_t pop = 0;
        for (uint8_t c : *m.mask) pop += std::popcount(c);
        if (pop <= 8 && n <= 4) {
          std::vector<std::pair<size_t, uint8_t>> mbits;
          for (size_t i = 0; i < n; ++i)
            for (int k = 7; k >= 0; --k)
              if ((*m.mask)[i] & (1 << k)) mbits.push_back({i, static_cast<uint8_t>(1 << k)});
          for (uint32_t subset = 0; subset < (1u << pop); ++subset) {
            Bytes v = m.value;
            for (size_t i = 0; i < n; ++i) v[i] &= static_cast<uint8_t>(~(*m.mask)[i]);
            for (size_t k = 0; k < mbits.size(); ++k)
              if (subset & (1u << k)) v[mbits[k].first] |= mbits[k].second;
            out.push_back({fmt::format("mask bits {:#x}", subset), v});
          }
        }
      }
      if (auto mm = add_all_parts(m.key, m.value, -1)) out.push_back({"value-1", *mm});
      if (auto pp = add_all_parts(m.key, m.value, +1)) out.push_back({"value+1", *pp});
      break;
    }
    case ir::Op::kLt:
    case ir::Op::kLe:
    case ir::Op::kGt:
    case ir::Op::kGe:
      value_neighbours(m.key, m.value, "value", out);
      out.push_back({"all-zeros", Bytes(n, 0)});
      out.push_back({"all-ones", Bytes(n, 0xff)});
      break;
    case ir::Op::kRange:
    case ir::Op::kNotRange:
      value_neighbours(m.key, m.value, "low", out);
      value_neighbours(m.key, m.value_hi, "high", out);
      out.push_back({"all-zeros", Bytes(n, 0)});
      out.push_back({"all-ones", Bytes(n, 0xff)});
      break;
    case ir::Op::kInSet:
    case ir::Op::kNotInSet: {
      const ir::Set* s = ir::find_set(t, m.set);
      if (!s) return failf(ENOENT, "set '{}' not found", m.set);
      set_candidates(*s, m.key, max_elems, out);
      break;
    }
    default:
      return failf(EINVAL, "bad op {}", static_cast<int>(m.op));
  }
  return out;
}

// A value that satisfies the match, when one is easy to name.
std::optional<Bytes> satisfying(const ir::Table& t, const ir::Match& m) {
  switch (m.op) {
    case ir::Op::kEq:
    case ir::Op::kLe:
    case ir::Op::kGe:
    case ir::Op::kRange:
      return m.value;
    case ir::Op::kNe: {
      Bytes v = m.value;
      for (size_t i = v.size(); i-- > 0;) {
        uint8_t mk = m.mask ? (*m.mask)[i] : 0xff;
        if (mk) {
          v[i] ^= static_cast<uint8_t>(mk & -mk);  // lowest covered bit
          return v;
        }
      }
      return std::nullopt;
    }
    case ir::Op::kLt: return add_all_parts(m.key, m.value, -1);
    case ir::Op::kGt: return add_all_parts(m.key, m.value, +1);
    case ir::Op::kNotRange: {
      if (auto v = add_all_parts(m.key, m.value_hi, +1)) return v;
      return add_all_parts(m.key, m.value, -1);
    }
    case ir::Op::kInSet:
    case ir::Op::kNotInSet: {
      const ir::Set* s = ir::find_set(t, m.set);
      if (!s || s->elements.empty()) return std::nullopt;
      if (m.op == ir::Op::kInSet) return s->elements[0].key;
      for (const auto& e : s->elements) {
        for (int d : {+1, -1}) {
          auto v = add_part(m.key, e.key_end.empty() ? e.key : e.key_end, 0, d);
          if (v && !set_lookup(*s, *v)) return v;
        }
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

// ---- realising a packet -----------------------------------------------------------------------

struct Assign {
  ir::Field f;
  Bytes value;  // f.len bytes
  std::optional<Bytes> mask;
};

std::vector<Assign> split(const std::vector<ir::Field>& key, const Bytes& reg, const std::optional<Bytes>& mask) {
  std::vector<Assign> out;
  size_t off = 0;
  for (const auto& f : key) {
    Assign a{f, Bytes(reg.begin() + off, reg.begin() + off + f.len), std::nullopt};
    if (mask) a.mask = Bytes(mask->begin() + off, mask->begin() + off + f.len);
    out.push_back(std::move(a));
    off += slot(f, key.size());
  }
  return out;
}

struct Draft {
  bool v6 = false;
  uint8_t l4proto = 6;
  bool nonfirst = false, hbh = false;
  std::optional<uint32_t> cut;  // keep this many bytes from the transport header on
  std::vector<Assign> assigns;
  // exthdr fields: build the packet without the headers/options/chunks they look for, or with
  // other ones in front of them (the walk must step over those).
  bool ext_absent = false;
  enum class Deep : uint8_t { kNo, kOne, kMany, kOdd } ext_deep = Deep::kNo;
  // x_tables' IPv6 walk (Base::kXtTransport, MetaKey::kXtL4Proto): an AH header in front of the
  // transport header (walked through by x_tables, the end of nft's walk), or a non-first fragment
  // of an extension header (the walk fails, -ENOENT: ip6_tables drops the packet).
  bool ah = false, bad_walk = false;
};

uint8_t proto_hint(const ir::Field& f) {
  switch (f.proto) {
    case ir::Proto::kTcp: return 6;
    case ir::Proto::kUdp: return 17;
    case ir::Proto::kSctp: return 132;
    case ir::Proto::kIcmp: return 1;
    case ir::Proto::kIcmp6: return 58;
    case ir::Proto::kUdpLite: return 136;
    case ir::Proto::kDccp: return 33;
    case ir::Proto::kAh: return 51;
    case ir::Proto::kEsp: return 50;
    case ir::Proto::kComp: return 108;
    default: return 0;
  }
}

uint64_t le_value(const Bytes& v) {
  uint64_t x = 0;
  std::memcpy(&x, v.data(), std::min<size_t>(v.size(), 8));
  return x;
}

uint32_t masked32(uint32_t orig, const Assign& a) {
  uint32_t v = static_cast<uint32_t>(le_value(a.value));
  if (!a.mask) return v;
  uint32_t m = static_cast<uint32_t>(le_value(*a.mask));
  if (a.f.len < 4) m |= ~0u << (8 * a.f.len);  // bytes the field does not cover keep orig
  return (orig & ~m) | (v & m);
}

std::optional<std::string> ifname_from(const Assign& a, const std::string& orig) {
  Bytes name(16, 0);
  std::memcpy(name.data(), orig.data(), std::min<size_t>(orig.size(), 15));
  for (size_t i = 0; i < a.value.size() && i < 16; ++i) {
    uint8_t m = a.mask ? (*a.mask)[i] : 0xff;
    name[i] = static_cast<uint8_t>((name[i] & ~m) | (a.value[i] & m));
  }
  // A device name is a C string of at most 15 bytes, zero-padded.
  size_t len = 0;
  while (len < 16 && name[len]) ++len;
  if (len > 15 || len == 0) return std::nullopt;
  for (size_t i = len; i < 16; ++i)
    if (name[i]) return std::nullopt;
  return std::string(name.begin(), name.begin() + len);
}

struct Realized {
  PacketContext ctx;
  Bytes frame;
};

// Applies structural meta assignments to the draft; false when a value cannot be carried.
bool apply_structural(Draft& d, std::optional<uint32_t>& skb_len, std::optional<uint16_t>& protocol) {
  for (const Assign& a : d.assigns) {
    if (a.f.base != ir::Base::kMeta) continue;
    switch (static_cast<ir::MetaKey>(a.f.key)) {
      case ir::MetaKey::kL4Proto: d.l4proto = a.value[0]; break;
      case ir::MetaKey::kXtL4Proto: {
        const uint64_t v = le_value(a.value) & (a.mask ? le_value(*a.mask) : 0xffff);
        if (v == ir::kXtWalkFailed) d.bad_walk = true;
        else if (v <= 0xff) d.l4proto = static_cast<uint8_t>(v);
        else return false;
        break;
      }
      case ir::MetaKey::kXtFragOff:
        if (le_value(a.value) & (a.mask ? le_value(*a.mask) : 0xffff)) d.nonfirst = true;
        break;
      case ir::MetaKey::kNfProto:
        if (a.value[0] == 2) d.v6 = false;
        else if (a.value[0] == 10) d.v6 = true;
        else return false;
        break;
      case ir::MetaKey::kLen: skb_len = static_cast<uint32_t>(le_value(a.value)); break;
      case ir::MetaKey::kProtocol: {
        uint16_t p = static_cast<uint16_t>(a.value[0] << 8 | a.value[1]);
        if (p == 0x0800) d.v6 = false;
        else if (p == 0x86dd) d.v6 = true;
        else protocol = p;
        break;
      }
      default: break;
    }
  }
  return true;
}

bool apply_ctx(PacketContext& c, const Assign& a) {
  if (a.f.base == ir::Base::kMeta) {
    auto key = static_cast<ir::MetaKey>(a.f.key);
    auto dev = [&](std::optional<Device>& d, const char* dflt) -> Device& {
      if (!d) d = Device{.name = dflt, .ifindex = 3};
      return *d;
    };
    switch (key) {
      case ir::MetaKey::kL4Proto:
      case ir::MetaKey::kXtL4Proto:
      case ir::MetaKey::kXtFragOff:
      case ir::MetaKey::kNfProto:
      case ir::MetaKey::kLen:
      case ir::MetaKey::kProtocol: return true;  // structural, applied before building
      case ir::MetaKey::kMark: c.mark = masked32(c.mark, a); return true;
      case ir::MetaKey::kPriority: c.priority = masked32(c.priority, a); return true;
      case ir::MetaKey::kIif: dev(c.in, "eth0").ifindex = masked32(c.in ? c.in->ifindex : 0, a); return true;
      case ir::MetaKey::kOif: dev(c.out, "eth1").ifindex = masked32(c.out ? c.out->ifindex : 0, a); return true;
      case ir::MetaKey::kIifName:
      case ir::MetaKey::kOifName: {
        auto& d = key == ir::MetaKey::kIifName ? dev(c.in, "eth0") : dev(c.out, "eth1");
        auto n = ifname_from(a, d.name);
        if (!n) return false;
        d.name = *n;
        return true;
      }
      case ir::MetaKey::kIifType: dev(c.in, "eth0").type = static_cast<uint16_t>(masked32(c.in ? c.in->type : 0, a)); return true;
      case ir::MetaKey::kOifType: dev(c.out, "eth1").type = static_cast<uint16_t>(masked32(c.out ? c.out->type : 0, a)); return true;
      case ir::MetaKey::kSkUid: c.sk_uid = masked32(c.sk_uid.value_or(0), a); return true;
      case ir::MetaKey::kSkGid: c.sk_gid = masked32(c.sk_gid.value_or(0), a); return true;
      case ir::MetaKey::kCpu: c.cpu = masked32(c.cpu, a); return true;
      case ir::MetaKey::kPktType: c.pkttype = static_cast<uint8_t>(masked32(c.pkttype, a)); return true;
      case ir::MetaKey::kCgroup: c.cgroup_classid = masked32(c.cgroup_classid.value_or(0), a); return true;
      default: return false;
    }
  }
  // conntrack
  auto key = static_cast<ir::CtKey>(a.f.key);
  switch (key) {
    case ir::CtKey::kState: {
      uint32_t s = masked32(0, a);
      c.ct.reset();
      c.ct_untracked = false;
      if (s == 1) return true;  // invalid: no entry
      if (s == 64) return c.ct_untracked = true;
      if (s == 2 || s == 4 || s == 8) {
        c.ct = Conntrack{.ctinfo = static_cast<uint8_t>(s == 2 ? 0 : s == 4 ? 1 : 2)};
        return true;
      }
      return false;
    }
    case ir::CtKey::kMark:
    case ir::CtKey::kStatus:
    case ir::CtKey::kDirection: {
      if (!c.ct) c.ct = Conntrack{.ctinfo = 0};
      if (key == ir::CtKey::kMark) c.ct->mark = masked32(c.ct->mark, a);
      else if (key == ir::CtKey::kStatus) c.ct->status = masked32(c.ct->status, a);
      else c.ct->ctinfo = a.value[0] ? 3 : 0;
      return true;
    }
    default: return false;
  }
}

// ---- exthdr fields: what carries them ----------------------------------------------------------

bool is_ext(const Assign& a, ir::ExtHdrOp op) {
  return a.f.base == ir::Base::kExtHdr && static_cast<ir::ExtHdrOp>(a.f.key) == op;
}

// Whether the packet should carry the header an exthdr assignment looks for: a presence field
// asks for it by value (0 or 1; anything else no packet can carry), a byte field always does.
std::optional<bool> wants_present(const Assign& a, bool absent) {
  if (!a.f.ext_present) return !absent;
  uint8_t v = static_cast<uint8_t>(a.value[0] & (a.mask ? (*a.mask)[0] : 0xff));
  for (size_t i = 1; i < a.value.size(); ++i)
    if (a.value[i] & (a.mask ? (*a.mask)[i] : 0xff)) return std::nullopt;
  if (v > 1) return std::nullopt;
  return v == 1 && !absent;
}

bool ipv6_ext_type(uint8_t t) { return t == 0 || t == 43 || t == 44 || t == 51 || t == 60; }

// The extension headers (and upper-layer protocol) that IPv6 exthdr assignments ask for; false
// when a value cannot be carried.
bool add_ipv6_exthdrs(const Draft& d, packet::Packet& p, uint8_t& l4proto) {
  std::vector<uint8_t> done;
  bool deep_done = false;
  for (const Assign& a : d.assigns) {
    if (!is_ext(a, ir::ExtHdrOp::kIpv6)) continue;
    auto want = wants_present(a, d.ext_absent);
    if (!want) return false;
    const uint8_t t = a.f.ext_type;
    if (!*want || std::find(done.begin(), done.end(), t) != done.end()) continue;
    done.push_back(t);
    if (d.ext_deep != Draft::Deep::kNo && !deep_done) {
      deep_done = true;
      // kOne: another options header; kMany: 13 of them (more than a kernel with
      // IP6_MAX_EXT_HDRS_CNT = 12 walks, fewer than codegen's 16); kOdd: an AH header (walked
      // through by ipv6_find_hdr with a target, unlike the transport walk).
      int n = d.ext_deep == Draft::Deep::kMany ? 13 : 1;
      for (int i = 0; i < n; ++i) {
        if (d.ext_deep == Draft::Deep::kOdd && t != 51) p.ext_header(51, Bytes(15, 0));
        else if (t == 60) p.hop_by_hop();
        else p.dest_opts();
      }
    }
    if (!ipv6_ext_type(t)) {
      if (t == 59) return false;  // "no next header": nothing to build behind it
      l4proto = t;                // found as the header the chain ends in
      continue;
    }
    size_t need = std::max<size_t>(8, a.f.offset + a.f.len);
    size_t total = (need + 7) & ~size_t{7};
    Bytes body(total - 1, 0);  // after the next-header byte
    if (t == 44) {
      body.resize(7);  // a fragment header is 8 bytes whatever is read behind it
    } else if (t == 51) {
      body[0] = static_cast<uint8_t>(total / 4 - 2);  // AH: (hdrlen + 2) * 4 bytes
    } else {
      body[0] = static_cast<uint8_t>(total / 8 - 1);  // (hdrlen + 1) * 8 bytes
    }
    p.ext_header(t, std::move(body));
  }
  return true;
}

// TCP options for the assignments (each kind once, in order), and where each one starts in the
// option space. A kind's option is long enough to hold what is read from it.
struct OptionPlan {
  Bytes raw;
  std::vector<std::pair<uint8_t, size_t>> at;  // kind -> offset from the end of the fixed header
};

std::optional<OptionPlan> tcp_options_for(const Draft& d) {
  OptionPlan plan;
  for (const Assign& a : d.assigns) {
    if (!is_ext(a, ir::ExtHdrOp::kTcpOpt)) continue;
    auto want = wants_present(a, d.ext_absent);
    if (!want) return std::nullopt;
    const uint8_t k = a.f.ext_type;
    bool seen = false;
    for (const auto& [kind, off] : plan.at) seen |= kind == k;
    if (!*want || seen) continue;
    if (d.ext_deep != Draft::Deep::kNo && plan.raw.empty()) {
      // A NOP and a 4-byte option of another kind in front (kOne), eight of them (kMany), or an
      // option with a zero length byte, which the walk steps over one byte at a time (kOdd).
      uint8_t other = k == 253 ? 254 : 253;
      int n = d.ext_deep == Draft::Deep::kMany ? 6 : 1;
      for (int i = 0; i < n; ++i) {
        if (d.ext_deep == Draft::Deep::kOdd) plan.raw.insert(plan.raw.end(), {other, 0, 1});
        else plan.raw.insert(plan.raw.end(), {1, other, 4, 0, 0});
      }
    }
    plan.at.push_back({k, plan.raw.size()});
    if (k <= 1) {
      plan.raw.push_back(k);
      continue;
    }
    // Natural lengths where nft's templates read beyond 2 bytes: mss 4, window 3, timestamp 10.
    size_t len = std::max<size_t>({size_t{2}, size_t{a.f.offset + a.f.len}, size_t{k == 2 ? 4u : k == 3 ? 3u : k == 8 ? 10u : 2u}});
    if (len > 40) return std::nullopt;
    Bytes opt(len, 0);
    opt[0] = k;
    opt[1] = static_cast<uint8_t>(len);
    plan.raw.insert(plan.raw.end(), opt.begin(), opt.end());
  }
  if (plan.raw.size() > 40) return std::nullopt;
  return plan;
}

// SCTP chunks for the assignments (each type once), and where each starts after the common header.
std::optional<OptionPlan> sctp_chunks_for(const Draft& d, packet::Packet& p) {
  OptionPlan plan;
  size_t at = 0;
  bool any = false;
  for (const Assign& a : d.assigns) {
    if (!is_ext(a, ir::ExtHdrOp::kSctp)) continue;
    any = true;
    auto want = wants_present(a, d.ext_absent);
    if (!want) return std::nullopt;
    const uint8_t t = a.f.ext_type;
    bool seen = false;
    for (const auto& [type, off] : plan.at) seen |= type == t;
    if (!*want || seen) continue;
    if (d.ext_deep != Draft::Deep::kNo && at == 0) {
      int n = d.ext_deep == Draft::Deep::kMany ? 8 : 1;
      for (int i = 0; i < n; ++i) {
        // kOdd: a chunk whose length is not a multiple of 4 (the walk pads it).
        size_t vlen = d.ext_deep == Draft::Deep::kOdd ? 5 : 12;
        p.sctp_chunk(t == 0 ? 1 : 0, 0, Bytes(vlen, 0));
        at += 4 + ((vlen + 3) & ~size_t{3});
      }
    }
    size_t value = std::max<size_t>(16, a.f.offset + a.f.len) - 4;
    // A rule on the chunk's length field: make the chunk that long, so the kernel's "chunk
    // within the packet" check can pass.
    for (const Assign& b : d.assigns)
      if (is_ext(b, ir::ExtHdrOp::kSctp) && b.f.ext_type == t && !b.f.ext_present && b.f.offset == 2 && b.f.len == 2) {
        size_t asked = static_cast<size_t>(b.value[0] << 8 | b.value[1]);
        if (asked >= 4 && asked <= 1400) value = std::max(value, asked - 4);
      }
    value = (value + 3) & ~size_t{3};
    plan.at.push_back({t, at});
    p.sctp_chunk(t, 0, Bytes(value, 0));
    at += 4 + value;
  }
  // A packet without the chunk still carries one (of another type).
  if (!any || at == 0) {
    uint8_t filler = 1;
    for (const Assign& a : d.assigns)
      if (is_ext(a, ir::ExtHdrOp::kSctp) && a.f.ext_type == filler) filler = 0;
    p.sctp_chunk(filler, 0, Bytes(16, 0));
  }
  return plan;
}

std::optional<Realized> realize(Draft d, const ir::Table& t, const ProbeOptions& opt) {
  std::optional<uint32_t> skb_len;
  std::optional<uint16_t> protocol;
  if (!apply_structural(d, skb_len, protocol)) return std::nullopt;
  bool netdev = t.family == ir::Family::kNetdev;
  bool link = netdev;
  uint32_t need_l4 = 0;
  for (const Assign& a : d.assigns) {
    if (a.f.base == ir::Base::kLink) link = true;
    if (a.f.base == ir::Base::kTransport || a.f.base == ir::Base::kXtTransport)
      need_l4 = std::max(need_l4, a.f.offset + a.f.len);
  }
  packet::Packet p = d.v6 ? packet::Packet::ipv6("2001:db8::1", "2001:db8::2") : packet::Packet::ipv4("192.0.2.1", "198.51.100.2");
  if (d.hbh && d.v6) p.hop_by_hop();
  if (d.v6 && !add_ipv6_exthdrs(d, p, d.l4proto)) return std::nullopt;
  if (d.v6 && d.bad_walk) p.fragment(8, false).dest_opts();
  if (d.v6 && d.ah) {
    Bytes body(15, 0);
    body[0] = 2;  // AH: (2 + 2) * 4 = 16 bytes
    p.ext_header(51, std::move(body));
  }
  if (d.nonfirst) p.fragment(8, false);
  uint32_t hdr = 8;
  std::optional<OptionPlan> tcp_opts, sctp_chunks;
  switch (d.l4proto) {
    case 6:
      p.tcp(40000, 80).flags(packet::tcp::kAck);
      hdr = 20;
      tcp_opts = tcp_options_for(d);
      if (!tcp_opts) return std::nullopt;
      if (!tcp_opts->raw.empty()) {
        p.tcp_options(tcp_opts->raw);
        hdr += static_cast<uint32_t>((tcp_opts->raw.size() + 3) & ~size_t{3});
      }
      break;
    case 17: p.udp(40000, 53); break;
    case 136: p.udplite(40000, 53); break;
    case 132:
      p.sctp(40000, 80, 1);
      sctp_chunks = sctp_chunks_for(d, p);
      if (!sctp_chunks) return std::nullopt;
      hdr = static_cast<uint32_t>(p.l3().size() - p.l4_offset());
      break;
    case 1:
      if (d.v6) p.l4(1, Bytes(8, 0));
      else p.icmp_echo(1, 1);
      break;
    case 58:
      if (d.v6) p.icmp6_echo(1, 1);
      else p.l4(58, Bytes(8, 0));
      break;
    default: p.l4(d.l4proto, Bytes(8, 0)); break;
  }
  size_t payload = need_l4 > hdr ? need_l4 - hdr : 0;
  p.payload_size(payload);
  if (skb_len) {
    size_t now = p.l3().size();
    if (*skb_len < now || *skb_len > 65535) return std::nullopt;
    p.payload_size(payload + (*skb_len - now));
  }
  if (link) p.ether();
  Bytes frame = p.bytes();
  uint32_t l2 = static_cast<uint32_t>(p.l2_len());
  uint32_t thoff = static_cast<uint32_t>(p.l4_offset());

  Realized r;
  r.ctx = opt.ctx;
  r.ctx.family = netdev ? ir::Family::kNetdev : (d.v6 ? ir::Family::kIp6 : ir::Family::kIp);
  if (netdev && r.ctx.hook != ir::Hook::kEgress) r.ctx.hook = ir::Hook::kIngress;
  if (netdev && r.ctx.hook == ir::Hook::kEgress && !r.ctx.out) r.ctx.out = Device{.name = "eth1", .ifindex = 3};
  r.ctx.l2_len = l2;
  if (protocol) r.ctx.protocol = protocol;

  for (const Assign& a : d.assigns) {
    size_t pos;
    switch (a.f.base) {
      case ir::Base::kNetwork: pos = l2 + a.f.offset; break;
      case ir::Base::kTransport:
      case ir::Base::kXtTransport: pos = l2 + thoff + a.f.offset; break;
      case ir::Base::kLink: pos = a.f.offset; break;
      case ir::Base::kExtHdr: {
        if (a.f.ext_present) continue;  // carried (or not) by building the packet
        const auto op = static_cast<ir::ExtHdrOp>(a.f.key);
        std::optional<size_t> start;
        if (op == ir::ExtHdrOp::kIpv6 && d.v6) {
          Skb skb{.buf = frame, .data = l2, .network = l2};
          uint32_t off = 0;
          if (ipv6_find_target(skb, a.f.ext_type, off) >= 0) start = l2 + off;
        }
        const std::optional<OptionPlan>& plan = op == ir::ExtHdrOp::kTcpOpt ? tcp_opts : sctp_chunks;
        if ((op == ir::ExtHdrOp::kTcpOpt || op == ir::ExtHdrOp::kSctp) && plan) {
          for (const auto& [type, off] : plan->at)
            if (type == a.f.ext_type) start = l2 + thoff + (op == ir::ExtHdrOp::kTcpOpt ? 20 : 12) + off;
        }
        if (!start) continue;  // not carried (absent probe, other family or protocol)
        pos = *start + a.f.offset;
        break;
      }
      default:
        if (!apply_ctx(r.ctx, a)) return std::nullopt;
        continue;
    }
    if (pos + a.f.len > frame.size()) return std::nullopt;
    for (size_t i = 0; i < a.f.len; ++i) {
      uint8_t m = a.mask ? (*a.mask)[i] : 0xff;
      frame[pos + i] = static_cast<uint8_t>((frame[pos + i] & ~m) | (a.value[i] & m));
    }
  }
  if (d.cut) frame.resize(std::min<size_t>(frame.size(), l2 + thoff + *d.cut));
  r.frame = std::move(frame);
  return r;
}

// ---- expectations ----------------------------------------------------------------------------

constexpr std::string_view kProbeChain = "__probe";

Result<bool> expect(const ir::Table& t, const std::vector<ir::Step>& steps, const Realized& r) {
  ir::Table pt{.family = t.family, .name = t.name, .sets = t.sets};
  for (const auto& c : t.chains)
    if (!c.base) pt.chains.push_back(c);
  ir::Chain probe{.name = std::string(kProbeChain), .base = ir::BaseHook{.hook = r.ctx.hook}, .policy = ir::VerdictKind::kDrop};
  // A named quota or limit whose definition the caller did not fill in (a table dumped without
  // its objects) has no boundary to probe and a fresh state says nothing about a live one: the
  // expectation leaves it out rather than refusing every probe of the rule.
  std::vector<ir::Step> known = steps;
  std::erase_if(known, [](const ir::Step& s) {
    const auto* o = std::get_if<ir::ObjectRef>(&s);
    return o && ((o->kind == "quota" && !o->quota) || (o->kind == "limit" && !o->limit));
  });
  probe.rules.push_back(ir::Rule{.handle = 1, .steps = std::move(known), .verdict = ir::Verdict{ir::VerdictKind::kAccept, {}}});
  pt.chains.push_back(std::move(probe));
  EvalState st;
  auto res = evaluate(pt, r.ctx, r.frame, st);
  if (!res) return std::unexpected(std::move(res).error());
  for (const auto& e : res->trace)
    if (e.chain == kProbeChain && e.rule == 1u &&
        (e.kind == TraceEvent::Kind::kMatch || e.kind == TraceEvent::Kind::kVerdict))
      return true;
  return false;
}

struct Target {  // a match-like thing to vary: Match or VerdictMap key
  std::vector<ir::Field> key;
  std::optional<Bytes> mask;
  std::vector<Cand> cands;
  std::optional<Bytes> sat;
};

Result<std::optional<Target>> target_of(const ir::Table& t, const ir::Step& s, size_t max) {
  if (const auto* m = std::get_if<ir::Match>(&s)) {
    auto c = candidates(t, *m, max);
    if (!c) return std::unexpected(std::move(c).error());
    return std::optional<Target>{Target{m->key, m->mask, std::move(*c), satisfying(t, *m)}};
  }
  if (const auto* vm = std::get_if<ir::VerdictMap>(&s)) {
    const ir::Set* set = ir::find_set(t, vm->set);
    if (!set) return failf(ENOENT, "map '{}' not found", vm->set);
    Target tg{vm->key, std::nullopt, {}, std::nullopt};
    set_candidates(*set, vm->key, max, tg.cands);
    if (!set->elements.empty()) tg.sat = set->elements[0].key;
    return std::optional<Target>{std::move(tg)};
  }
  return std::optional<Target>{};
}

Result<std::vector<Probe>> probes_for(const ir::Table& t, const std::vector<ir::Step>& steps, const ProbeOptions& opt) {
  std::vector<Target> targets;
  for (const auto& s : steps) {
    auto tg = target_of(t, s, opt.max_set_elements);
    if (!tg) return std::unexpected(std::move(tg).error());
    if (*tg) targets.push_back(std::move(**tg));
  }
  // Families the table allows, and the one the fields ask for.
  bool allow4 = t.family != ir::Family::kIp6, allow6 = t.family != ir::Family::kIp;
  std::optional<bool> want6;
  uint8_t l4 = 0;
  for (const auto& tg : targets)
    for (const auto& f : tg.key) {
      if (f.proto == ir::Proto::kIp4 || f.proto == ir::Proto::kIcmp) want6 = false;
      if (f.proto == ir::Proto::kIp6 || f.proto == ir::Proto::kIcmp6) want6 = true;
      if (!l4) l4 = proto_hint(f);
      if (f.base == ir::Base::kExtHdr) {
        auto op = static_cast<ir::ExtHdrOp>(f.key);
        if (op == ir::ExtHdrOp::kIpv6) want6 = true;
        if (op == ir::ExtHdrOp::kTcpOpt && !l4) l4 = 6;
        if (op == ir::ExtHdrOp::kSctp && !l4) l4 = 132;
      }
    }
  bool primary6 = want6 ? *want6 : !allow4;
  if ((primary6 && !allow6) || (!primary6 && !allow4)) primary6 = !primary6;

  std::vector<Probe> out;
  auto emit = [&](std::string what, Draft d) -> Result<void> {
    auto r = realize(std::move(d), t, opt);
    if (!r) return {};
    auto e = expect(t, steps, *r);
    if (!e) return std::unexpected(std::move(e).error().with_context("while probing: " + what));
    out.push_back(Probe{std::move(what), std::move(r->ctx), std::move(r->frame), *e});
    return {};
  };
  auto base_draft = [&](size_t except) {
    Draft d;
    d.v6 = primary6;
    d.l4proto = l4 ? l4 : 6;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (i == except || !targets[i].sat) continue;
      auto parts = split(targets[i].key, *targets[i].sat, targets[i].mask);
      d.assigns.insert(d.assigns.end(), parts.begin(), parts.end());
    }
    return d;
  };

  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& tg = targets[i];
    std::string name = label_of(tg.key);
    for (const Cand& c : tg.cands) {
      Draft d = base_draft(i);
      auto parts = split(tg.key, c.key, tg.mask);
      d.assigns.insert(d.assigns.end(), parts.begin(), parts.end());
      NFBPF_TRYV(emit(fmt::format("{}: {}", name, c.label), std::move(d)));
    }
    if (!tg.sat) continue;
    // Variants of the satisfying value: the other family, and transport-header damage.
    Draft hit = base_draft(i);
    auto parts = split(tg.key, *tg.sat, tg.mask);
    hit.assigns.insert(hit.assigns.end(), parts.begin(), parts.end());
    if (allow4 && allow6) {
      Draft other = hit;
      other.v6 = !other.v6;
      NFBPF_TRYV(emit(fmt::format("{}: satisfying value on {}", name, other.v6 ? "ipv6" : "ipv4"), std::move(other)));
    }
    bool exthdr = false;
    for (const auto& f : tg.key) exthdr |= f.base == ir::Base::kExtHdr;
    if (exthdr) {
      Draft gone = hit;
      gone.ext_absent = true;
      NFBPF_TRYV(emit(fmt::format("{}: satisfying value, header/option/chunk absent", name), std::move(gone)));
      for (auto [how, label] : {std::pair{Draft::Deep::kOne, "another header/option/chunk"},
                                std::pair{Draft::Deep::kMany, "many headers/options/chunks"},
                                std::pair{Draft::Deep::kOdd, "an AH header / a zero-length option / an unpadded chunk"}}) {
        Draft deep = hit;
        deep.ext_deep = how;
        NFBPF_TRYV(emit(fmt::format("{}: satisfying value behind {}", name, label), std::move(deep)));
      }
      Draft other = hit;
      other.l4proto = other.l4proto == 6 ? 17 : 6;
      NFBPF_TRYV(emit(fmt::format("{}: satisfying value, other transport protocol", name), std::move(other)));
      Draft frag = hit;
      frag.nonfirst = true;
      NFBPF_TRYV(emit(fmt::format("{}: satisfying value in a non-first fragment", name), std::move(frag)));
    }
    bool xt_walk = false;
    for (const auto& f : tg.key)
      xt_walk |= f.base == ir::Base::kXtTransport ||
                 (f.base == ir::Base::kMeta && f.key == static_cast<uint8_t>(ir::MetaKey::kXtL4Proto));
    if (xt_walk && allow6) {
      Draft ah = hit;
      ah.v6 = true;
      ah.ah = true;
      NFBPF_TRYV(emit(fmt::format("{}: satisfying value behind an AH header (x_tables walks through it)", name), std::move(ah)));
    }
    uint32_t end = 0;
    bool transport = false;
    for (const auto& f : tg.key)
      if (f.base == ir::Base::kTransport || f.base == ir::Base::kXtTransport) {
        transport = true;
        end = std::max(end, f.offset + f.len);
      }
    if (!transport) continue;
    Draft shortd = hit;
    shortd.cut = end - 1;
    NFBPF_TRYV(emit(fmt::format("{}: satisfying value, cut 1 byte short of the field", name), std::move(shortd)));
    Draft exact = hit;
    exact.cut = end;
    NFBPF_TRYV(emit(fmt::format("{}: satisfying value, cut right after the field", name), std::move(exact)));
    Draft frag = hit;
    frag.nonfirst = true;
    NFBPF_TRYV(emit(fmt::format("{}: satisfying value in a non-first fragment", name), std::move(frag)));
    if (allow6) {
      Draft ext = hit;
      ext.v6 = true;
      ext.hbh = true;
      NFBPF_TRYV(emit(fmt::format("{}: satisfying value behind a hop-by-hop header", name), std::move(ext)));
    }
  }
  return out;
}

}  // namespace

std::string Probe::describe() const {
  std::string pkt = ctx.l2_len ? packet::describe_frame(frame) : packet::describe_l3(frame);
  return fmt::format("{}: {} -> {}", what, pkt, expect_match ? "match" : "miss");
}

Result<std::vector<Probe>> match_probes(const ir::Table& t, const ir::Match& m, const ProbeOptions& opt) {
  return probes_for(t, {ir::Step{m}}, opt);
}

Result<std::vector<Probe>> rule_probes(const ir::Table& t, const ir::Rule& r, const ProbeOptions& opt) {
  return probes_for(t, r.steps, opt);
}

}  // namespace nfbpf::eval
