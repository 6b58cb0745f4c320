#pragma once
// The matcher case table: one base case per kind of field (payload base x load width, each meta
// and ct key codegen reads), expanded over every match op; and the classification the coverage
// test uses to find (field kind, op, flavor) triples codegen supports but no case exercises.

#include <string>
#include <vector>

#include "codegen/flavor/flavor.h"
#include "translate/ir/ir.h"

namespace nfbpf::codegen::runtime_tests {

// Op variants: the IR ops, plus a masked eq and interval-set lookups.
enum class OpVariant : uint8_t {
  kEq, kNe, kLt, kLe, kGt, kGe, kRange, kNotRange, kMaskedEq, kInSet, kNotInSet, kInIntervalSet,
  kNotInIntervalSet, kCount
};
std::string_view op_name(OpVariant v);

struct BaseCase {
  std::string kind;            // field_kind() of the key, e.g. "network/4", "meta/mark"
  ir::Family family;           // for netfilter/cgroup (L2 flavors use netdev)
  std::vector<ir::Field> key;  // one field, or a concatenation
  ir::Bytes value;             // register layout; chosen so +-2 on the last byte does not wrap
};

// What the test table covers, hand-written.
const std::vector<BaseCase>& base_cases();

// A case expanded to one op: the match and the table (with the sets it needs) to put it in.
struct MatcherCase {
  std::string name;  // "<kind> <op>"
  std::string kind;
  OpVariant op;
  ir::Table table;   // family set for `flavor`; one base chain "c" (accept on match, policy drop)
  ir::Match match;
};
MatcherCase expand(const BaseCase& b, OpVariant op, flavor::Flavor f);

// "network/4", "transport/other", "link/2", "meta/iifname", "ct/state", "concat"...
std::string field_kind(const std::vector<ir::Field>& key);

// Every field kind the IR can express (payload bases x widths, every meta and ct key), with a
// representative key: what the coverage test asks codegen about.
std::vector<std::pair<std::string, std::vector<ir::Field>>> all_field_kinds();

}  // namespace nfbpf::codegen::runtime_tests
