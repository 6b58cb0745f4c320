#pragma once
// A rule: its handle (unique within the table, shared counter with chains and sets), its
// expressions in order, optional user data (nft stores comments there).

#include <cstdint>
#include <optional>
#include <vector>

#include "nfnl-server/store/expr.h"
#include "nfnl-server/store/visibility.h"

namespace nfbpf::store {

struct Chain;

struct Rule {
  uint64_t handle = 0;
  std::vector<Expr> exprs;
  std::optional<std::vector<uint8_t>> userdata;
  Visibility vis;
  // Chains this rule jumps to / goes to (each holds one `use` for the reference).
  std::vector<Chain*> jump_targets;
  // Anonymous or named sets this rule references through lookup/dynset/objref.
  std::vector<struct Set*> set_refs;
  // Stateful objects this rule references through objref (each holds one object `use`).
  std::vector<struct Object*> obj_refs;
};

}  // namespace nfbpf::store
