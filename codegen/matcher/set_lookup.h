#pragma once
// Set membership and map lookups: the key is assembled on the stack in nft's register layout
// (one field as is; concatenations with each part padded to 4 bytes, padding zeroed), the match's
// mask applied, then one bpf_map_lookup_elem in the set's map.
//
// How a set becomes a map (chain/sets.h fills it):
//   exact keys (no interval flag)                  BPF_MAP_TYPE_HASH, key = register layout
//   intervals, one field                           BPF_MAP_TYPE_LPM_TRIE, key = {u32 prefixlen,
//                                                  layout}; each [lo, hi] split into prefixes
//   intervals over a concatenation                 LPM too when every element is: exact parts,
//                                                  then at most one ranged part, then only
//                                                  full-range parts
//   intervals over a concatenation, any element    no map: the elements are baked into the code
//   with more than one ranged part                 and tried in turn (kScan; at most 256, no
//                                                  timeouts), since a trie cannot hold them
// Lookups in an LPM trie ask with prefixlen = all bits; since the set's intervals do not
// overlap, any prefix that matches belongs to the one interval holding the key.

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

enum class SetMapKind : uint8_t { kHash, kLpm, kScan, kCount };

SetMapKind set_map_kind(const ir::Set& s);
// Whether an element of an interval set over a concatenation fits an LPM trie (exact parts, then
// at most one ranged part, then only full-range parts).
bool concat_element_fits_lpm(const ir::Set& s, const ir::Element& e);
// The value every element of a plain set (not a map) stores.
inline constexpr uint32_t kSetMemberValue = 1;

// Verdict map values: what the lookup returns, and how chain jumps name their target.
struct VmapValue {
  uint32_t kind;   // ir::VerdictKind
  uint32_t chain;  // jump/goto: index of the target in the table's chain list
};
static_assert(sizeof(VmapValue) == 8);

// Builds the key of `key` fields (with `mask`) for set `s` on the stack; leaves r2 = its address.
// Jumps to `fail` if a field cannot be read. Clobbers r0-r5.
Result<void> emit_build_key(EmitCtx& c, const std::vector<ir::Field>& key, const std::optional<ir::Bytes>& mask,
                            bool lpm, int16_t& key_slot, emit::Label& fail);

// r0 = the element's value (or NULL) for `key` looked up in set `set_name`. Clobbers r0-r5.
Result<void> emit_lookup(EmitCtx& c, const std::vector<ir::Field>& key, const std::optional<ir::Bytes>& mask,
                         const std::string& set_name, emit::Label& fail);

// in-set / not-in-set.
Result<void> emit_set_match(EmitCtx& c, const ir::Match& m, emit::Label& fail);

// Lookup with a key already in the register file (register blocks): key bytes at r10 + key_off.
Result<void> emit_lookup_at(EmitCtx& c, int16_t key_off, const std::string& set_name);

}  // namespace nfbpf::codegen::matcher
