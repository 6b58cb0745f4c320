#include "nfnl-server/offload/counter_listing.h"

#include <linux/netfilter/nf_tables.h>

namespace nfbpf::offload {
namespace {

std::vector<uint8_t> be64(uint64_t v) {
  std::vector<uint8_t> out(8);
  for (int i = 7; i >= 0; --i, v >>= 8) out[size_t(i)] = uint8_t(v & 0xff);
  return out;
}

void set_u64(std::vector<store::ExprAttr>& attrs, uint16_t type, uint64_t v) {
  for (auto& a : attrs)
    if (a.type == type) {
      a.payload = be64(v);
      return;
    }
  attrs.push_back(store::ExprAttr{.type = type, .payload = be64(v)});
}

}  // namespace

codegen::abi::Counter read_counter_attrs(const std::vector<store::ExprAttr>& attrs) {
  codegen::abi::Counter v{};
  for (const auto& a : attrs) {
    if (a.payload.size() != 8) continue;
    uint64_t x = 0;
    for (uint8_t b : a.payload) x = (x << 8) | b;
    if (a.type == NFTA_COUNTER_BYTES) v.bytes = x;
    if (a.type == NFTA_COUNTER_PACKETS) v.packets = x;
  }
  return v;
}

void write_counter_attrs(std::vector<store::ExprAttr>& attrs, codegen::abi::Counter v) {
  // The kernel dumps BYTES before PACKETS (nft_counter_do_dump).
  set_u64(attrs, NFTA_COUNTER_BYTES, v.bytes);
  set_u64(attrs, NFTA_COUNTER_PACKETS, v.packets);
}

void refresh_rule_counters(store::Ruleset& rs, const CounterSource& source, const ObjectCounterSource& objects) {
  for (auto& t : rs.tables) {
    if (!t->vis.cur) continue;
    if (objects)
      for (auto& o : t->objects) {
        if (!o->vis.cur || o->type != NFT_OBJECT_COUNTER) continue;
        auto v = objects(t->family, t->name, o->name);
        if (!v) continue;
        set_u64(o->data, NFTA_COUNTER_BYTES, v->bytes);
        set_u64(o->data, NFTA_COUNTER_PACKETS, v->packets);
      }
    for (auto& c : t->chains) {
      if (!c->vis.cur) continue;
      for (auto& r : c->rules) {
        if (!r.vis.cur) continue;
        size_t nth = 0;
        for (auto& e : r.exprs) {
          if (e.name != "counter") continue;
          auto v = source(t->family, t->name, c->name, r.handle, nth++);
          if (!v) continue;
          // The kernel dumps BYTES before PACKETS (nft_counter_do_dump).
          set_u64(e.data, NFTA_COUNTER_BYTES, v->bytes);
          set_u64(e.data, NFTA_COUNTER_PACKETS, v->packets);
        }
      }
    }
  }
}

void write_quota_consumed(std::vector<store::ExprAttr>& attrs, uint64_t consumed) {
  for (auto& a : attrs)
    if (a.type == NFTA_QUOTA_CONSUMED) {
      a.payload = be64(consumed);
      return;
    }
  auto at = attrs.begin();
  while (at != attrs.end() && at->type != NFTA_QUOTA_BYTES) ++at;
  if (at != attrs.end()) ++at;  // nft_quota_do_dump: BYTES, CONSUMED, FLAGS
  attrs.insert(at, store::ExprAttr{.type = NFTA_QUOTA_CONSUMED, .payload = be64(consumed)});
}

void write_quota_state(std::vector<store::ExprAttr>& attrs, uint64_t consumed) {
  // nft_quota_do_dump: `consumed` grows with every packet (nft_overquota adds before comparing),
  // but the dump caps it at the quota and reports DEPLETED from there on.
  uint64_t bytes = 0;
  for (const auto& a : attrs)
    if (a.type == NFTA_QUOTA_BYTES && a.payload.size() == 8)
      for (uint8_t b : a.payload) bytes = (bytes << 8) | b;
  const bool depleted = consumed >= bytes;
  write_quota_consumed(attrs, depleted ? bytes : consumed);
  for (auto& a : attrs)
    if (a.type == NFTA_QUOTA_FLAGS && a.payload.size() == 4)
      a.payload[3] = static_cast<uint8_t>(depleted ? (a.payload[3] | NFT_QUOTA_F_DEPLETED)
                                                   : (a.payload[3] & ~NFT_QUOTA_F_DEPLETED));
}

void refresh_rule_quotas(store::Ruleset& rs, const QuotaSource& source, const ObjectQuotaSource& objects) {
  for (auto& t : rs.tables) {
    if (!t->vis.cur) continue;
    if (objects)
      for (auto& o : t->objects) {
        if (!o->vis.cur || o->type != NFT_OBJECT_QUOTA) continue;
        if (auto v = objects(t->family, t->name, o->name)) write_quota_state(o->data, *v);
      }
    for (auto& c : t->chains) {
      if (!c->vis.cur) continue;
      for (auto& r : c->rules) {
        if (!r.vis.cur) continue;
        size_t nth = 0;
        for (auto& e : r.exprs) {
          if (e.name != "quota") continue;
          if (auto v = source(t->family, t->name, c->name, r.handle, nth++)) write_quota_state(e.data, *v);
        }
      }
    }
  }
}

}  // namespace nfbpf::offload
