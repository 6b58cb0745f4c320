#include "codegen/prologue/needs.h"

#include <algorithm>
#include <variant>

namespace nfbpf::codegen::prologue {

void add_field(Needs& n, const ir::Field& f) {
  uint32_t end = f.offset + f.len;
  switch (f.base) {
    case ir::Base::kNetwork: n.network_end = std::max(n.network_end, end); break;
    case ir::Base::kTransport: n.transport_end = std::max(n.transport_end, end); break;
    case ir::Base::kLink: n.link = true; break;
    // x_tables' walk: its own slots; when it agrees with nft's (no AH on the way), reads use the
    // transport slice behind r9, so it counts towards the slice's length too.
    case ir::Base::kXtTransport:
      n.xt6 = true;
      n.transport_end = std::max(n.transport_end, end);
      break;
    case ir::Base::kMeta:
      if (f.key == static_cast<uint8_t>(ir::MetaKey::kXtL4Proto) || f.key == static_cast<uint8_t>(ir::MetaKey::kXtFragOff))
        n.xt6 = true;
      break;
    default: break;
  }
}

Needs needs_of(const std::vector<const ir::Chain*>& chains) {
  Needs n;
  for (const ir::Chain* c : chains) {
    for (const ir::Rule& r : c->rules) {
      for (const ir::Step& s : r.steps) {
        if (const auto* m = std::get_if<ir::Match>(&s)) {
          for (const auto& f : m->key) add_field(n, f);
        } else if (const auto* vm = std::get_if<ir::VerdictMap>(&s)) {
          for (const auto& f : vm->key) add_field(n, f);
        } else if (const auto* b = std::get_if<ir::RegisterBlock>(&s)) {
          for (const auto& op : b->ops)
            if (const auto* ld = std::get_if<ir::reg::Load>(&op)) add_field(n, ld->field);
        }
      }
    }
  }
  return n;
}

Layout layout_for(const Needs& n) {
  auto cap = [](uint32_t v) { return std::min<uint32_t>(v, emit::kSliceBufSize); };
  return Layout{.l3_fast = cap(n.network_end), .l4_fast = cap(n.transport_end), .xt6 = n.xt6};
}

}  // namespace nfbpf::codegen::prologue
