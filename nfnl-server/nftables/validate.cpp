#include "nfnl-server/nftables/validate.h"

#include <unordered_map>

#include "nfnl-server/nftables/expr_hooks.h"

namespace nfbpf::nftables {
namespace {

constexpr int kJumpStack = 16;  // NFT_JUMP_STACK_SIZE

enum class Mark : uint8_t { kOnPath, kDone };

// Verdict maps a rule looks up jump like immediates do.
void map_targets(const store::Rule& r, std::vector<const store::Chain*>& out) {
  for (const store::Chain* t : r.jump_targets) out.push_back(t);
  for (const store::Set* s : r.set_refs)
    for (const auto& e : s->elems)
      if (e.vis.next)
        for (const store::Chain* t : e.jump_targets) out.push_back(t);
}

// Depth-first walk; chains proven fine are not walked again, so validation is linear.
Result<void> walk(const store::Chain* c, int depth, uint8_t family, const store::Chain& base,
                  std::unordered_map<const store::Chain*, Mark>& marks) {
  if (depth >= kJumpStack) return fail(EMLINK, "");  // nft_chain_validate: level == 16
  auto it = marks.find(c);
  if (it != marks.end()) {
    if (it->second == Mark::kOnPath) return fail(EMLINK, "");  // the kernel recurses until too deep
    return {};
  }
  marks[c] = Mark::kOnPath;
  std::vector<const store::Chain*> targets;
  for (const auto& r : c->rules) {
    if (!r.vis.next) continue;
    for (const auto& e : r.exprs)
      if (needs_validation(e, r)) NFBPF_TRYV(validate_in_chain(e, r, family, base));
    targets.clear();
    map_targets(r, targets);
    for (const store::Chain* t : targets) NFBPF_TRYV(walk(t, depth + 1, family, base, marks));
  }
  marks[c] = Mark::kDone;
  return {};
}

}  // namespace

Result<void> validate_table(const store::Table& t) {
  for (const auto& c : t.chains) {
    if (!c->vis.next || !c->is_base()) continue;
    std::unordered_map<const store::Chain*, Mark> marks;
    NFBPF_TRYV(walk(c.get(), 0, t.family, *c, marks));
  }
  return {};
}

}  // namespace nfbpf::nftables
