#pragma once
// Live counters in listings: the kernel dumps a `counter` expression with the packets and bytes
// it has counted, and `nft list ruleset` prints them. Under offload the counting happens in BPF,
// so before a dump the committed rules' counter expressions are rewritten with the values read
// from the counters map. The store keeps the attributes in dump order; only their payloads change.

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "codegen/abi/counter.h"
#include "nfnl-server/store/ruleset.h"

namespace nfbpf::offload {

// Value of the nth (0-based) counter expression of a rule; nullopt keeps the stored value.
using CounterSource = std::function<std::optional<codegen::abi::Counter>(
    uint8_t nfproto, std::string_view table, std::string_view chain, uint64_t handle, size_t nth)>;

// Value of a named counter object (`counter c1 {}`); nullopt keeps the stored value.
using ObjectCounterSource = std::function<std::optional<codegen::abi::Counter>(
    uint8_t nfproto, std::string_view table, std::string_view name)>;

// Rewrites NFTA_COUNTER_BYTES / NFTA_COUNTER_PACKETS of every committed rule's counter
// expressions and, when `objects` is given, of every committed named counter object.
// Sets a counter expression's or counter object's NFTA_COUNTER_BYTES / PACKETS (kernel order).
void write_counter_attrs(std::vector<store::ExprAttr>& attrs, codegen::abi::Counter v);

// The values a counter expression or object carries (`counter packets 5 bytes 100`); absent
// attributes read as 0.
codegen::abi::Counter read_counter_attrs(const std::vector<store::ExprAttr>& attrs);

void refresh_rule_counters(store::Ruleset& rs, const CounterSource& source,
                           const ObjectCounterSource& objects = {});

// Bytes a rule's nth (0-based) `quota` expression has consumed; nullopt keeps the stored value.
using QuotaSource = std::function<std::optional<uint64_t>(uint8_t nfproto, std::string_view table,
                                                          std::string_view chain, uint64_t handle, size_t nth)>;

// Bytes a named quota object (`quota q1 { over 300 bytes }`) has consumed; nullopt keeps the stored value.
using ObjectQuotaSource = std::function<std::optional<uint64_t>(uint8_t nfproto, std::string_view table,
                                                                std::string_view name)>;

// Rewrites NFTA_QUOTA_CONSUMED of every committed rule's quota expressions (`quota 1 mbytes used
// 640 bytes`) and, when `objects` is given, of every committed quota object, as the kernel dumps
// them (write_quota_state).
void refresh_rule_quotas(store::Ruleset& rs, const QuotaSource& source, const ObjectQuotaSource& objects = {});
// NFTA_QUOTA_CONSUMED alone; an absent attribute is inserted after NFTA_QUOTA_BYTES, where the
// kernel dumps it.
void write_quota_consumed(std::vector<store::ExprAttr>& attrs, uint64_t consumed);
// What nft_quota_do_dump reports for `consumed` bytes: CONSUMED capped at the quota, and the
// DEPLETED flag set once it is reached (cleared below it).
void write_quota_state(std::vector<store::ExprAttr>& attrs, uint64_t consumed);

}  // namespace nfbpf::offload
