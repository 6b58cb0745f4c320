#include "nfnl-server/store/expr.h"

#include <chrono>

#include "nfnl-server/store/set.h"

namespace nfbpf::store {
namespace {
uint64_t be(const std::vector<uint8_t>& p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && i < p.size(); i++) v = (v << 8) | p[i];
  return v;
}
const ExprAttr* find_in(const std::vector<ExprAttr>& v, uint16_t t) {
  for (const auto& a : v)
    if (a.type == t) return &a;
  return nullptr;
}
}  // namespace

const ExprAttr* ExprAttr::find(uint16_t t) const { return find_in(children, t); }
uint32_t ExprAttr::be32() const { return uint32_t(be(payload, 4)); }
uint64_t ExprAttr::be64() const { return be(payload, 8); }
std::string_view ExprAttr::str() const {
  size_t n = payload.size();
  while (n && payload[n - 1] == 0) n--;
  return {reinterpret_cast<const char*>(payload.data()), n};
}
uint64_t now_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

const ExprAttr* Expr::find(uint16_t t) const { return find_in(data, t); }

}  // namespace nfbpf::store
