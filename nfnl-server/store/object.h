#pragma once
// A stateful object (counter, quota, limit, ct helper/timeout/expectation, synproxy, secmark,
// connlimit): its NFT_OBJECT_* type and its data attributes in the kernel's dump order.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nfnl-server/store/expr.h"
#include "nfnl-server/store/visibility.h"

namespace nfbpf::store {

struct Object {
  std::string name;
  uint32_t type = 0;  // NFT_OBJECT_*
  uint64_t handle = 0;
  uint32_t use = 0;  // references from rules (objref) and set elements
  std::vector<ExprAttr> data;  // NFTA_OBJ_DATA contents
  std::optional<std::vector<uint8_t>> userdata;
  Visibility vis;
};

}  // namespace nfbpf::store
