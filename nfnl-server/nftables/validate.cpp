#include "nfnl-server/nftables/validate.h"

#include <unordered_map>

namespace nfbpf::nftables {
namespace {

constexpr int kJumpStack = 16;  // NFT_JUMP_STACK_SIZE

enum class Mark : uint8_t { kOnPath, kDone };

// Depth-first walk; chains proven loop-free are not walked again, so validation is linear.
Result<void> walk(const store::Chain* c, int depth,
                  std::unordered_map<const store::Chain*, Mark>& marks) {
  if (depth > kJumpStack) return fail(EMLINK, "");
  auto it = marks.find(c);
  if (it != marks.end()) {
    if (it->second == Mark::kOnPath) return fail(EMLINK, "");  // the kernel recurses until too deep
    return {};
  }
  marks[c] = Mark::kOnPath;
  for (const auto& r : c->rules) {
    if (!r.vis.next) continue;
    for (const store::Chain* t : r.jump_targets) NFBPF_TRYV(walk(t, depth + 1, marks));
  }
  marks[c] = Mark::kDone;
  return {};
}

}  // namespace

Result<void> validate_table(const store::Table& t) {
  for (const auto& c : t.chains) {
    if (!c->vis.next || !c->is_base()) continue;
    std::unordered_map<const store::Chain*, Mark> marks;
    NFBPF_TRYV(walk(c.get(), 0, marks));
  }
  return {};
}

}  // namespace nfbpf::nftables
