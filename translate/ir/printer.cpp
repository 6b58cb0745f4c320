#include "translate/ir/printer.h"

#include <fmt/format.h>

#include "translate/ir/fields.h"

namespace nfbpf::ir {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

std::string key_string(const std::vector<Field>& key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) out += " . ";
    out += to_string(key[i]);
  }
  return out;
}

std::string reg_op_string(const reg::Op& op) {
  return std::visit(
      Overloaded{
          [](const reg::Load& o) { return fmt::format("r{} = {}", o.dreg, to_string(o.field)); },
          [](const reg::Immediate& o) { return fmt::format("r{} = {}", o.dreg, hex(o.data)); },
          [](const reg::Bitwise& o) {
            return fmt::format("r{} = (r{} & {}) ^ {}", o.dreg, o.sreg, hex(o.mask), hex(o.xor_));
          },
          [](const reg::Shift& o) {
            return fmt::format("r{} = r{} {} {} (len {})", o.dreg, o.sreg, o.left ? "<<" : ">>", o.amount, o.len);
          },
          [](const reg::ByteOrder& o) {
            return fmt::format("r{} = {}(r{}, len {}, size {})", o.dreg, o.to_network ? "hton" : "ntoh",
                               o.sreg, o.len, o.size);
          },
          [](const reg::Cmp& o) { return fmt::format("r{} {} {}", o.sreg, to_string(o.op), hex(o.data)); },
          [](const reg::Range& o) {
            return fmt::format("r{} {} {}-{}", o.sreg, o.negate ? "not-in-range" : "in-range", hex(o.from), hex(o.to));
          },
          [](const reg::Lookup& o) {
            std::string s = fmt::format("r{} {} @{}", o.sreg, o.invert ? "not-in" : "in", o.set);
            if (o.dreg) s += fmt::format(" => r{}", *o.dreg);
            return s;
          },
          [](const reg::SetMeta& o) { return fmt::format("meta {} = r{}", to_string(o.key), o.sreg); },
      },
      op);
}

}  // namespace

std::string hex(const Bytes& b) {
  std::string out;
  out.reserve(b.size() * 2);
  for (uint8_t c : b) out += fmt::format("{:02x}", c);
  return out.empty() ? "''" : out;
}

std::string to_string(const Field& f) {
  std::string name;
  if (auto n = field_name(f)) {
    name = std::string(*n);
  } else {
    switch (f.base) {
      case Base::kLink: name = fmt::format("@ll,{},{}", f.offset, f.len); break;
      case Base::kNetwork: name = fmt::format("@nh,{},{}", f.offset, f.len); break;
      case Base::kTransport: name = fmt::format("@th,{},{}", f.offset, f.len); break;
      case Base::kXtTransport: name = fmt::format("@xt6th,{},{}", f.offset, f.len); break;
      // Byte order matters for meta/ct integers: "be" marks a value nft converted to network order.
      case Base::kMeta:
        name = fmt::format("meta {}/{}{}", to_string(static_cast<MetaKey>(f.key)), f.len, f.host_order ? "" : " be");
        break;
      case Base::kCt:
        name = fmt::format("ct {}/{}{}", to_string(static_cast<CtKey>(f.key)), f.len, f.host_order ? "" : " be");
        break;
      // "exthdr ipv6 44 @2,2", "exthdr tcpopt 2 present": the walk, the type, then the bytes.
      case Base::kExtHdr:
        name = f.ext_present ? fmt::format("exthdr {} {} present", to_string(static_cast<ExtHdrOp>(f.key)), f.ext_type)
                             : fmt::format("exthdr {} {} @{},{}", to_string(static_cast<ExtHdrOp>(f.key)), f.ext_type,
                                           f.offset, f.len);
        break;
      case Base::kCount: name = "?"; break;
    }
  }
  if (f.base == Base::kCt && f.dir != CtDir::kAny)
    name += f.dir == CtDir::kOriginal ? " original" : " reply";
  return name;
}

std::string to_string(const Match& m) {
  std::string lhs = key_string(m.key);
  if (m.mask) lhs += " & " + hex(*m.mask);
  switch (m.op) {
    case Op::kRange:
    case Op::kNotRange:
      return fmt::format("{} {} {}-{}", lhs, to_string(m.op), hex(m.value), hex(m.value_hi));
    case Op::kInSet:
    case Op::kNotInSet:
      return fmt::format("{} {} @{}", lhs, to_string(m.op), m.set);
    default:
      return fmt::format("{} {} {}", lhs, to_string(m.op), hex(m.value));
  }
}

std::string to_string(const Verdict& v) {
  if (v.kind == VerdictKind::kJump || v.kind == VerdictKind::kGoto)
    return fmt::format("{} {}", to_string(v.kind), v.chain);
  return std::string(to_string(v.kind));
}

std::string to_string(const Step& s) {
  return std::visit(
      Overloaded{
          [](const Match& m) { return to_string(m); },
          [](const RegisterBlock& b) {
            std::string out = "{ ";
            for (size_t i = 0; i < b.ops.size(); ++i) {
              if (i) out += "; ";
              out += reg_op_string(b.ops[i]);
            }
            return out + " }";
          },
          [](const Counter&) { return std::string("counter"); },
          [](const ObjectRef& o) { return fmt::format("{} name {}", o.kind, o.name); },
          [](const Limit& l) {
            return fmt::format("limit rate {}{}/{}s{} burst {}", l.over ? "over " : "", l.rate, l.unit_seconds,
                               l.bytes ? " bytes" : "", l.burst);
          },
          [](const Quota& q) { return fmt::format("quota {}{} bytes used {}", q.over ? "over " : "", q.bytes, q.consumed); },
          [](const Log& l) {
            std::string out = "log";
            if (!l.prefix.empty()) out += fmt::format(" prefix \"{}\"", l.prefix);
            if (l.group) out += fmt::format(" group {}", *l.group);
            else out += fmt::format(" level {}", l.level);
            return out;
          },
          [](const SetMark& m) { return fmt::format("mark set (mark & {:#x}) ^ {:#x}", ~m.clear, m.value); },
          [](const VerdictMap& v) { return fmt::format("{} vmap @{}", key_string(v.key), v.set); },
      },
      s);
}

std::string to_string(const Rule& r) {
  std::string out = fmt::format("rule {}:", r.handle);
  for (size_t i = 0; i < r.steps.size(); ++i) out += (i ? "; " : " ") + to_string(r.steps[i]);
  out += " -> " + to_string(r.verdict);
  if (!r.comment.empty()) out += " # " + r.comment;
  return out;
}

std::string to_string(const Set& s) {
  std::string parts;
  for (size_t i = 0; i < s.key_parts.size(); ++i) parts += fmt::format("{}{}", i ? "," : "", s.key_parts[i]);
  std::string out = fmt::format("set {} key_len {} parts [{}] flags {:#x}", s.name, s.key_len, parts, s.flags);
  if (s.verdict_map) out += " : verdict";
  else if (s.data_len) out += fmt::format(" : data/{}", s.data_len);
  out += " {";
  for (size_t i = 0; i < s.elements.size(); ++i) {
    const Element& e = s.elements[i];
    out += i ? ", " : " ";
    out += hex(e.key);
    if (!e.key_end.empty()) out += "-" + hex(e.key_end);
    if (e.verdict) out += " : " + to_string(*e.verdict);
    else if (!e.data.empty()) out += " : " + hex(e.data);
    if (e.timeout_ms) out += fmt::format(" timeout {}ms", *e.timeout_ms);
  }
  if (s.catchall) {
    // Printed even in the element-less shape offload compares: codegen bakes it into the program.
    out += s.elements.empty() ? " *" : ", *";
    if (s.catchall->verdict) out += " : " + to_string(*s.catchall->verdict);
    else if (!s.catchall->data.empty()) out += " : " + hex(s.catchall->data);
  }
  return out + " }";
}

std::string to_string(const Chain& c) {
  std::string out = fmt::format("chain {} handle {}", c.name, c.handle);
  if (c.base) {
    out += fmt::format(" hook {} priority {} type {}", to_string(c.base->hook), c.base->priority,
                       to_string(c.base->type));
    for (const auto& d : c.base->devices) out += " device " + d;
    out += fmt::format(" policy {}", to_string(c.policy));
  }
  out += "\n";
  for (const auto& r : c.rules) out += "    " + to_string(r) + "\n";
  return out;
}

std::string to_string(const Table& t) {
  std::string out = fmt::format("table {} {} handle {}", to_string(t.family), t.name, t.handle);
  if (t.flags) out += fmt::format(" flags {:#x}", t.flags);
  out += "\n";
  for (const auto& s : t.sets) out += "  " + to_string(s) + "\n";
  for (const auto& c : t.chains) out += "  " + to_string(c);
  return out;
}

std::string to_string(const Ruleset& r) {
  std::string out;
  for (const auto& t : r.tables) out += to_string(t);
  return out;
}

}  // namespace nfbpf::ir
