#pragma once
// The values a single field (possibly masked) can still take after a rule's compares: a sorted
// list of disjoint inclusive intervals of numbers. translate/passes/prune_rules uses it to find
// rules whose compares contradict each other (`ip saddr 1.2.3.4 ip saddr 5.6.7.8`,
// `meta l4proto 6 ... meta l4proto 17`, `tcp dport > 100 tcp dport < 50`, an empty range).
//
// Numbers follow the IR's ordering (translate/ir/ir.h): a host-order field of at most 8 bytes
// is a little-endian integer, anything else compares byte-wise, i.e. as a big-endian integer.
// Fields longer than 16 bytes have no domain (nothing is concluded about them).

#include <optional>
#include <vector>

#include "translate/ir/ir.h"

namespace nfbpf::translate::passes {

__extension__ typedef unsigned __int128 Number;  // wide enough for IPv6 addresses

class ValueDomain {
 public:
  // Every value of a `len_bytes`-byte field.
  explicit ValueDomain(uint32_t len_bytes);

  bool empty() const { return ivs_.empty(); }
  // Keeps only the values for which `x op value` (value_hi for ranges) holds. `op` is one of
  // kEq..kGe, kRange, kNotRange.
  void restrict(ir::Op op, Number value, Number value_hi = 0);

  struct Interval {
    Number lo, hi;
    friend bool operator==(const Interval&, const Interval&) = default;
  };
  const std::vector<Interval>& intervals() const { return ivs_; }

 private:
  void intersect(const std::vector<Interval>& with);
  Number max_;
  std::vector<Interval> ivs_;
};

// The number `bytes` stand for in `field`'s ordering; nullopt when the field has no domain.
std::optional<Number> to_number(const ir::Field& field, const ir::Bytes& bytes);

}  // namespace nfbpf::translate::passes
