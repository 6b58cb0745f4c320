#pragma once
// Multi-field classification (bpf-iptables' linear bit-vector search): a block of consecutive
// rules, each made only of compares on a few fields (exact values, prefixes, ranges), becomes one
// lookup per field plus an AND of bitmaps, whatever the number of rules.
//
//   rule i:  ip saddr S_i  ip daddr D_i  meta l4proto P_i  th dport R_i  [counter]  accept|drop
//
// - Per field, the value space is cut into segments at every bound a rule's compares name
//   (value_domain.h gives each rule's admitted intervals); each segment carries the bitmap of the
//   rules it admits: those whose intervals cover it, plus the `wildcard` rules that do not test
//   the field. A field the packet does not have (tcp dport of an ICMP packet: the load breaks)
//   admits the wildcard rules only, as the linear code would break every rule testing it.
// - A packet's rules are the AND of its fields' bitmaps; the lowest set bit is the first rule
//   that matches in chain order: its verdict applies and its counter counts.
// - For BPF, each field's segments become LPM trie entries (a segment split into prefixes; disjoint,
//   so the longest match is the segment); a miss is the wildcard bitmap. Fields where every rule
//   names single values could use a hash map instead (FieldTable::exact_only).
//
// classify_rules() is the pass: it marks each block the cost model picks with ir::Rule::classified
// (the tables as data-map sets of the table) and keeps every rule; codegen/chain/classify.h
// compiles the form, the reference evaluator runs it (docs/codegen.md).

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "translate/ir/ir.h"
#include "translate/passes/value_domain.h"

namespace nfbpf::translate::passes {

class Bitmap {
 public:
  explicit Bitmap(size_t bits = 0) : bits_(bits), words_((bits + 63) / 64, 0) {}
  static Bitmap all(size_t bits);
  void set(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void clear(size_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  bool test(size_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  Bitmap& operator&=(const Bitmap& o);
  std::optional<size_t> lowest() const;  // the first rule set, if any
  size_t bits() const { return bits_; }
  const std::vector<uint64_t>& words() const { return words_; }
  friend bool operator==(const Bitmap&, const Bitmap&) = default;

 private:
  size_t bits_;
  std::vector<uint64_t> words_;
};

struct FieldTable {
  ir::Field field;  // as the first rule testing it names it (codegen reads by base/offset/len)
  struct Segment {
    Number lo, hi;  // inclusive; segments are sorted, contiguous and cover every value
    Bitmap rules;
  };
  std::vector<Segment> segments;
  Bitmap wildcard;         // rules that do not test this field
  bool exact_only = true;  // every rule testing it names single values (a hash map would do)

  const Bitmap& lookup(Number v) const;

  // LPM trie contents: prefixes (value, prefix length in bits) of the segments whose bitmap is
  // not the wildcard one; they are disjoint, and a value no prefix holds gets `wildcard`.
  struct Prefix {
    Number value;
    uint32_t bits;
    size_t segment;
  };
  std::vector<Prefix> lpm_entries() const;
};

struct Classifier {
  std::vector<FieldTable> fields;
  size_t rules = 0;  // bit i stands for the i-th rule of the block

  // A field's value as nft loads it, or nullopt when the load breaks.
  using Loader = std::function<std::optional<ir::Bytes>(const ir::Field&)>;
  // The first rule of the block whose compares all hold, as linear evaluation would find it.
  std::optional<size_t> first_match(const Loader& load) const;
};

// Whether a rule can be a bit of a block: compares on single fields only (no masks but
// prefixes of network-order fields; no sets, no random/time keys; a host-order field of more
// than one byte only with `==`, since its tables are hash maps: an LPM trie orders bytes
// big-endian), then at most kMaxClassifiedCounters Counters, and a verdict that ends the chain
// without coming back (accept, drop, return).
bool classifiable(const ir::Rule& r);

// Builds the tables of a block (rules.size() <= kMaxClassifiedRules, each classifiable()).
Result<Classifier> build_classifier(std::span<const ir::Rule> rules);

inline constexpr size_t kMaxClassifiedRules = 2048;  // 32 bitmap words (256-byte map values)
inline constexpr size_t kMaxClassifiedCounters = 2;  // codegen's rule entry holds two counter slots

// Codegen keeps one bitmap pointer per field in r1-r4 while it ANDs the words.
inline constexpr size_t kMaxClassifiedFields = 4;

struct ClassifyOptions {
  size_t min_rules = 64;   // shorter blocks stay linear
  size_t min_fields = 2;   // one field is merge_runs' job
  size_t max_fields = kMaxClassifiedFields;
  size_t max_rules = kMaxClassifiedRules;
  // A BPF program uses at most 64 maps: the per-field maps of a table's blocks stay under this
  // (the table's other sets counted too); later blocks stay linear.
  size_t max_field_maps = 40;
  double compare_ns = 0.3; // one linear compare (docs/performance.md: 0.27-0.39 ns live)
  double lookup_ns = 25;   // one LPM lookup and its bitmap AND
};

// Where a chain would be classified: [begin, end) blocks of consecutive classifiable rules, at
// most max_rules each and max_fields fields, for which the cost model prefers lookups
// (fields × lookup_ns) over the linear compares they replace (their matches × compare_ns).
struct Block {
  size_t begin = 0, end = 0, fields = 0;
};
std::vector<Block> plan_blocks(const ir::Chain& chain, const ClassifyOptions& opt = {});

// The pass (after merge_runs, whose merged rules are not classifiable): each planned block's
// first rule gets ir::Rule::classified; per field one anonymous constant data map is appended to
// the table's sets, named kClassifySetPrefix + n: a hash map when every rule testing the field
// names single values, else an interval map (LPM trie), from the value to the bitmap of the
// segment it falls in (segments whose bitmap is the wildcard one get no element). No rule is
// removed or changed, so handles, counters and listings stay as they were.
// Needs: form_matches, name_fields. Keeps: everything; must be the last pass (block bounds are
// rule positions).
inline constexpr std::string_view kClassifySetPrefix = "__nfbpf_cls";
struct ClassifyStats {
  size_t blocks = 0, rules = 0;
};
Result<ClassifyStats> classify_rules(ir::Table& table, const ClassifyOptions& opt = {});

}  // namespace nfbpf::translate::passes
