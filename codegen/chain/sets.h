#pragma once
// ir::Set -> BPF map: the spec and the entries (matcher/set_lookup.h says which map type and why).
//
// Interval decomposition: an inclusive interval [lo, hi] over a W-bit big-endian key (memcmp
// order, the kernel's) is covered by the classic prefix split: at each step take the largest
// aligned block starting at lo that does not pass hi. That is at most 2W - 2 prefixes per
// interval (e.g. 62 for an IPv4 range, 254 for IPv6), usually far fewer (a CIDR is one).
//
// Updating in place later (element add/delete without recompiling): the daemon computes the
// entries of the changed element with element_entries() and applies them with map update /
// delete: one hash entry per exact element, the element's prefixes for an LPM trie. Intervals do
// not overlap in nft sets, so prefixes of different elements never collide. A verdict-map element
// that jumps to a chain the program has no call for (chains are found at compile time) needs a
// recompile: element_entries() reports it with ENOENT.

#include <map>
#include <string>
#include <vector>

#include "codegen/kernel/kernel.h"
#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::codegen::chain {

struct MapEntry {
  ir::Bytes key, value;
};

struct SetMap {
  ir::Family family = ir::Family::kIp;  // the IR table's family
  std::string table;     // the IR table's name
  std::string set;       // the IR set's name
  std::string map_name;  // what the program calls it (Program::map)
  kernel::MapSpec spec;
  std::vector<MapEntry> entries;
};

// Index of a chain in the table's chain list (verdict map values name chains by it).
using ChainIndex = std::map<std::string, uint32_t, std::less<>>;
ChainIndex chain_index(const ir::Table& t);

Result<std::vector<MapEntry>> element_entries(const ir::Set& s, const ir::Element& e, const ChainIndex& chains);
// Headroom for later element additions: max_entries = max(entries * 2, 64) (LPM: prefixes).
// The key of a set's map in LoadedChain::set_maps: "<family> <table>/<set>", e.g. "inet c/ports".
std::string set_map_key(ir::Family family, std::string_view table, std::string_view set);

Result<SetMap> build_set_map(const ir::Set& s, const ChainIndex& chains, std::string map_name);

// [lo, hi] inclusive, big-endian bytes of equal length -> (prefix bits, network bytes) pairs.
std::vector<std::pair<uint32_t, ir::Bytes>> interval_prefixes(const ir::Bytes& lo, const ir::Bytes& hi);

}  // namespace nfbpf::codegen::chain
