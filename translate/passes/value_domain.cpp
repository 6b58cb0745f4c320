#include "translate/passes/value_domain.h"

#include <algorithm>

namespace nfbpf::translate::passes {

ValueDomain::ValueDomain(uint32_t len_bytes)
    : max_(len_bytes >= 16 ? ~Number{0} : (Number{1} << (8 * len_bytes)) - 1), ivs_{{0, max_}} {}

void ValueDomain::intersect(const std::vector<Interval>& with) {
  std::vector<Interval> out;
  for (const auto& a : ivs_)
    for (const auto& b : with) {
      Number lo = std::max(a.lo, b.lo), hi = std::min(a.hi, b.hi);
      if (lo <= hi) out.push_back({lo, hi});
    }
  std::sort(out.begin(), out.end(), [](const Interval& x, const Interval& y) { return x.lo < y.lo; });
  ivs_ = std::move(out);
}

void ValueDomain::restrict(ir::Op op, Number v, Number hi) {
  // Values outside the field's width never compare equal or in range: clamp them first.
  std::vector<Interval> keep;
  auto below = [&](Number x) {  // [0, x)
    if (x > 0) keep.push_back({0, std::min(x - 1, max_)});
  };
  auto above = [&](Number x) {  // (x, max]
    if (x < max_) keep.push_back({x + 1, max_});
  };
  switch (op) {
    case ir::Op::kEq:
      if (v <= max_) keep.push_back({v, v});
      break;
    case ir::Op::kNe:
      below(v);
      above(v);
      break;
    case ir::Op::kLt: below(v); break;
    case ir::Op::kLe:
      if (v >= max_) keep.push_back({0, max_});
      else below(v + 1);
      break;
    case ir::Op::kGt: above(v); break;
    case ir::Op::kGe:
      if (v <= max_) keep.push_back({v, max_});
      break;
    case ir::Op::kRange:
      if (v <= hi && v <= max_) keep.push_back({v, std::min(hi, max_)});
      break;
    case ir::Op::kNotRange:
      if (v > hi) {
        keep.push_back({0, max_});
      } else {
        below(v);
        above(hi);
      }
      break;
    default: return;  // sets: not a domain constraint
  }
  intersect(keep);
}

std::optional<Number> to_number(const ir::Field& field, const ir::Bytes& bytes) {
  if (bytes.size() != field.len || bytes.empty() || bytes.size() > 16) return std::nullopt;
  Number n = 0;
  if (field.host_order && bytes.size() <= 8) {
    for (size_t i = bytes.size(); i-- > 0;) n = (n << 8) | bytes[i];
  } else {
    for (uint8_t b : bytes) n = (n << 8) | b;
  }
  return n;
}

}  // namespace nfbpf::translate::passes
