#pragma once
// Sets and maps: key/data types and lengths as nft declared them (nft's datatype ids), flags
// (NFT_SET_*), and the elements. Anonymous sets are bound to the rule that created them.

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "nfnl-server/store/expr.h"
#include "nfnl-server/store/visibility.h"

namespace nfbpf::store {

// A data value as in NFTA_DATA_*: plain bytes or a verdict (code + optional chain name).
struct Data {
  std::vector<uint8_t> value;
  std::optional<int32_t> verdict;
  std::string chain;  // for jump/goto verdicts
};

// Milliseconds on the monotonic clock element deadlines are kept in.
uint64_t now_ms();

struct SetElem {
  std::vector<uint8_t> key;
  std::optional<std::vector<uint8_t>> key_end;
  std::optional<Data> data;
  std::optional<std::string> objref;
  uint32_t flags = 0;  // NFT_SET_ELEM_INTERVAL_END, NFT_SET_ELEM_CATCHALL
  bool has_flags = false;
  std::optional<uint64_t> timeout_ms;     // effective timeout (the set's default if none given)
  std::optional<uint64_t> expires_at_ms;  // steady-clock deadline (store::now_ms()); gone after
  std::optional<std::vector<uint8_t>> userdata;
  std::vector<Expr> exprs;  // per-element stateful expressions (counter, ...)
  std::vector<struct Chain*> jump_targets;  // verdict map data: each holds one chain `use`
  struct Object* obj = nullptr;             // object map data: holds one object `use`
  Visibility vis;

  bool expired(uint64_t now) const { return expires_at_ms && now >= *expires_at_ms; }
};

// The kernel backend nft_select_set_ops() picks; it decides element dump order and what
// NFTA_SET_TYPE reports. Later stages may use it as a hint for the data structure to build.
enum class SetBackend : uint8_t { kHashFast, kHash, kRhash, kBitmap, kRbtree, kPipapoAvx2, kPipapo, kCount };

struct Set {
  std::string name;
  SetBackend backend = SetBackend::kRhash;
  uint64_t handle = 0;
  uint32_t flags = 0;  // NFT_SET_ANONYMOUS | CONSTANT | INTERVAL | MAP | TIMEOUT | EVAL | OBJECT | CONCAT | EXPR
  uint32_t key_type = 0;
  uint32_t key_len = 0;
  uint32_t data_type = 0;
  uint32_t data_len = 0;
  uint32_t obj_type = 0;
  uint32_t policy = 0;  // NFT_SET_POL_PERFORMANCE
  uint32_t size = 0;    // NFTA_SET_DESC_SIZE
  std::vector<uint32_t> field_len;  // NFTA_SET_DESC_CONCAT
  std::optional<uint64_t> timeout_ms;
  uint32_t gc_interval = 0;
  std::optional<std::vector<uint8_t>> userdata;
  std::vector<Expr> exprs;
  uint32_t batch_id = 0;
  uint32_t use = 0;  // bindings by rules
  Visibility vis;

  std::list<SetElem> elems;

  bool anonymous() const { return flags & 0x1; }
  bool is_map() const { return flags & 0x8; }
};

}  // namespace nfbpf::store
