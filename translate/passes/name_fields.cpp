#include "translate/passes/name_fields.h"

#include "translate/ir/fields.h"

namespace nfbpf::translate::passes {

namespace {

ir::Proto l4_proto(uint8_t number) {
  switch (number) {
    case 6: return ir::Proto::kTcp;
    case 17: return ir::Proto::kUdp;
    case 132: return ir::Proto::kSctp;
    case 1: return ir::Proto::kIcmp;
    case 58: return ir::Proto::kIcmp6;
    case 136: return ir::Proto::kUdpLite;
    case 33: return ir::Proto::kDccp;
    case 51: return ir::Proto::kAh;
    case 50: return ir::Proto::kEsp;
    case 108: return ir::Proto::kComp;
    default: return ir::Proto::kRaw;
  }
}

bool is_field(const ir::Field& f, ir::KnownField k) {
  const ir::Field& g = ir::known_field(k);
  return f.base == g.base && f.offset == g.offset && f.len == g.len && f.key == g.key &&
         (f.proto == g.proto || f.base == ir::Base::kMeta);
}

void name_rule(ir::Rule& r, ir::Proto l3) {
  ir::Proto l4 = ir::Proto::kRaw;
  auto name = [&](ir::Field& f) {
    if (f.base == ir::Base::kNetwork && f.proto == ir::Proto::kRaw) f.proto = l3;
    if (f.base == ir::Base::kTransport && f.proto == ir::Proto::kRaw) f.proto = l4;
  };
  for (auto& step : r.steps) {
    if (auto* b = std::get_if<ir::RegisterBlock>(&step)) {
      for (auto& op : b->ops)
        if (auto* load = std::get_if<ir::reg::Load>(&op)) name(load->field);
      continue;
    }
    if (auto* v = std::get_if<ir::VerdictMap>(&step)) {
      for (auto& f : v->key) name(f);
      continue;
    }
    auto* m = std::get_if<ir::Match>(&step);
    if (!m) continue;
    for (auto& f : m->key) name(f);
    if (m->op != ir::Op::kEq || m->mask || m->key.size() != 1 || m->value.size() != 1) continue;
    const ir::Field& f = m->key[0];
    if (is_field(f, ir::KnownField::kMetaNfProto)) {
      l3 = m->value[0] == 2 ? ir::Proto::kIp4 : m->value[0] == 10 ? ir::Proto::kIp6 : l3;
    } else if (is_field(f, ir::KnownField::kMetaL4Proto) ||
               (l3 == ir::Proto::kIp4 && is_field(f, ir::KnownField::kIp4Protocol)) ||
               (l3 == ir::Proto::kIp6 && is_field(f, ir::KnownField::kIp6NextHdr))) {
      l4 = l4_proto(m->value[0]);
    }
  }
}

}  // namespace

Result<void> name_fields(ir::Table& table) {
  const ir::Proto l3 = table.family == ir::Family::kIp    ? ir::Proto::kIp4
                       : table.family == ir::Family::kIp6 ? ir::Proto::kIp6
                                                          : ir::Proto::kRaw;
  for (auto& chain : table.chains)
    for (auto& rule : chain.rules) name_rule(rule, l3);
  return {};
}

}  // namespace nfbpf::translate::passes
