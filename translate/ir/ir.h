#pragma once
// The matcher IR: what a ruleset means, independent of where it came from (nft expression lists,
// ipt_entry blobs) and of how it runs (BPF flavors). translate/ produces it; codegen/ consumes it.
//
// Conventions
// - Values are bytes exactly as they sit in an nf_tables register: payload fields in network
//   order, meta/ct integers in host order, concatenated set keys with each part padded to 4 bytes.
//   `Field::host_order` says which; ordering comparisons (lt/le/gt/ge/range) are numeric in that
//   order, and byte-wise (memcmp, i.e. big-endian) for fields longer than 8 bytes.
// - A rule is an ordered list of steps. A Match step either holds (evaluation goes on) or ends the
//   rule as "no match" (next rule). Statements have effects. Order matters: a counter before a
//   match counts packets that reach it, as in nft. Passes may reorder only adjacent matches.
// - Anything the fast matcher forms cannot say is a RegisterBlock: nft's register machine, verbatim
//   (loads, bitwise, shifts, byteorder, cmp, range, lookup, immediates), run on an 80-byte register
//   file. So translation never has to refuse something merely because it is an unusual shape.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace nfbpf::ir {

using Bytes = std::vector<uint8_t>;

enum class Family : uint8_t { kIp, kIp6, kInet, kNetdev, kArp, kBridge, kCount };
enum class Hook : uint8_t { kPrerouting, kInput, kForward, kOutput, kPostrouting, kIngress, kEgress, kCount };
enum class ChainType : uint8_t { kFilter, kRoute, kNat, kCount };

// Where a field is read from.
enum class Base : uint8_t {
  kLink,       // link-layer header (absent at netfilter hooks: reads fail there, as in nft)
  kNetwork,    // IPv4/IPv6 header
  kTransport,  // L4 header; absent for non-first fragments and unknown L4 (reads fail)
  kMeta,       // packet metadata; `key` is a MetaKey
  kCt,         // conntrack; `key` is a CtKey, `dir` optional
  kExtHdr,     // found by a walk (nft exthdr): `key` is an ExtHdrOp, `ext_type` the header/option/
               // chunk type, `offset`/`len` within it; absent: the read fails (or, with
               // `ext_present`, the field is one byte 0/1 and never fails, see ExtHdrOp)
  kXtTransport,  // the transport header as ip6_tables finds it (x_tables' IPv6 walk, see
                 // MetaKey::kXtL4Proto): ipv6_find_hdr(skb, &off, -1, &fragoff, NULL), which walks
                 // THROUGH AH (nft's pktinfo, kTransport, stops at AH). Reads fail when that walk
                 // failed, for non-first fragments, and past the packet. Only ip6 legacy tables
                 // (translate/ipt) use it; IPv4 packets have no such header (reads fail).
  kCount
};

// The header a payload field was written against, as the translator knew it from the rule's
// protocol guard. Informational for naming and passes: codegen reads by base/offset/len only.
enum class Proto : uint8_t { kRaw, kEth, kIp4, kIp6, kTcp, kUdp, kSctp, kIcmp, kIcmp6, kUdpLite, kDccp, kAh, kEsp, kComp, kCount };

enum class MetaKey : uint8_t {
  kLen, kProtocol, kMark, kIif, kOif, kIifName, kOifName, kIifType, kOifType, kSkUid, kSkGid,
  kNfProto, kL4Proto, kPktType, kCpu, kIifGroup, kOifGroup, kCgroup, kPriority, kRandom,
  kSecPath, kIifKind, kOifKind, kTime, kDay, kHour,
  // nft's rt expression (and meta rtclassid): the skb's route (skb_dst)
  kRtClassid, kRtNexthop4, kRtNexthop6, kRtIpsec,
  // x_tables' IPv6 walk (ip6_packet_match's ipv6_find_hdr(skb, &off, -1, &fragoff, NULL)), which
  // the prologue computes beside nft's (only when a rule reads it). Both are 2-byte host-order
  // integers whose loads never fail:
  //   kXtL4Proto  the upper-layer protocol found (also for a non-first fragment), or
  //               kXtWalkFailed when ipv6_find_hdr fails (ip6_packet_match then drops the packet:
  //               its hotdrop) and for non-IPv6 packets;
  //   kXtFragOff  the fragment offset in bytes (0: whole packet, first fragment, or walk failed).
  kXtL4Proto, kXtFragOff,
  kCount
};

// In nft's NFT_CT_* order.
enum class CtKey : uint8_t {
  kState, kDirection, kStatus, kMark, kSecmark, kExpiration, kHelper, kL3Proto, kSrc, kDst,
  kProtocol, kProtoSrc, kProtoDst, kLabels, kPkts, kBytes, kAvgPkt, kZone, kEventMask,
  kSrcIp, kDstIp, kSrcIp6, kDstIp6, kId, kCount
};

enum class CtDir : uint8_t { kAny, kOriginal, kReply, kCount };

// What a kExtHdr field walks, in nft's NFT_EXTHDR_OP_* order (nft_exthdr.c is the reference):
// - kIpv6: ipv6_find_hdr(skb, &off, ext_type): the first header of that type in the IPv6
//   extension-header chain (walking through AH; an upper-layer type is found only as the header
//   the chain ends in). Fails for non-IPv6 skbs, also with ext_present.
// - kTcpOpt: the first TCP option of kind ext_type (EOL and NOP are one byte, a zero length
//   counts as one; the option must fit the header and hold offset+len bytes). Not TCP, a
//   non-first fragment or a bad header: absent (ext_present then reads 0).
// - kIpv4: IP options lsrr/ssrr/rr/ra as __ip_options_compile finds them.
// - kSctp: the first chunk of type ext_type; ext_present reads 0 when absent.
// - kDccp: DCCP options (presence only).
enum class ExtHdrOp : uint8_t { kIpv6, kTcpOpt, kIpv4, kSctp, kDccp, kCount };

struct Field {
  Base base = Base::kNetwork;
  uint32_t offset = 0;  // bytes from the start of the base header (payload bases)
  uint32_t len = 0;     // bytes loaded
  uint8_t key = 0;      // MetaKey / CtKey for kMeta / kCt
  CtDir dir = CtDir::kAny;
  Proto proto = Proto::kRaw;
  bool host_order = false;  // true for meta/ct integers
  uint8_t ext_type = 0;      // kExtHdr: the header type, option kind or chunk type looked for
  bool ext_present = false;  // kExtHdr: load "is it there" (1 byte, 0/1) instead of its bytes

  friend bool operator==(const Field&, const Field&) = default;
};

enum class Op : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kRange, kNotRange, kInSet, kNotInSet, kCount };

// (key & mask) OP value. One field, or several for a concatenated set key.
// A prefix (ip saddr 10.0.0.0/8) is kEq with a prefix mask; a flag test is kNe 0 with a mask.
struct Match {
  std::vector<Field> key;
  std::optional<Bytes> mask;  // same length as the key's register layout
  Op op = Op::kEq;
  Bytes value;     // kEq..kGe: operand; kRange/kNotRange: low end (inclusive)
  Bytes value_hi;  // kRange/kNotRange: high end (inclusive)
  std::string set; // kInSet/kNotInSet: the set's name in the same table

  friend bool operator==(const Match&, const Match&) = default;
};

// ---- Verdicts -------------------------------------------------------------------------------

enum class VerdictKind : uint8_t { kAccept, kDrop, kContinue, kReturn, kJump, kGoto, kCount };

struct Verdict {
  VerdictKind kind = VerdictKind::kContinue;
  std::string chain;  // kJump / kGoto target

  friend bool operator==(const Verdict&, const Verdict&) = default;
};

// ---- Register-level form --------------------------------------------------------------------
// Registers are numbered in 4-byte units over nft's 80-byte file: 0..3 is the verdict register
// (NFT_REG_VERDICT), NFT_REG_1..4 are 4, 8, 12, 16 and NFT_REG32_00..15 are 4..19.
namespace reg {
struct Load { uint8_t dreg; Field field; friend bool operator==(const Load&, const Load&) = default; };
struct Immediate { uint8_t dreg; Bytes data; friend bool operator==(const Immediate&, const Immediate&) = default; };
struct Bitwise {  // dreg = (sreg & mask) ^ xor_
  uint8_t sreg, dreg; uint32_t len; Bytes mask, xor_;
  friend bool operator==(const Bitwise&, const Bitwise&) = default;
};
struct Shift {  // per 32-bit word, as nft's NFT_BITWISE_LSHIFT/RSHIFT
  uint8_t sreg, dreg; uint32_t len; bool left; uint32_t amount;
  friend bool operator==(const Shift&, const Shift&) = default;
};
struct ByteOrder {  // nft_byteorder: hton/ntoh over `len` bytes in units of `size` (2, 4 or 8)
  uint8_t sreg, dreg; bool to_network; uint32_t len, size;
  friend bool operator==(const ByteOrder&, const ByteOrder&) = default;
};
struct Cmp { uint8_t sreg; Op op; Bytes data; friend bool operator==(const Cmp&, const Cmp&) = default; };
struct Range { uint8_t sreg; bool negate; Bytes from, to; friend bool operator==(const Range&, const Range&) = default; };
struct Lookup {  // breaks unless found (or unless absent when invert); maps write data to dreg
  uint8_t sreg; std::string set; bool invert; std::optional<uint8_t> dreg;
  friend bool operator==(const Lookup&, const Lookup&) = default;
};
struct SetMeta { MetaKey key; uint8_t sreg; friend bool operator==(const SetMeta&, const SetMeta&) = default; };
using Op = std::variant<Load, Immediate, Bitwise, Shift, ByteOrder, Cmp, Range, Lookup, SetMeta>;
}  // namespace reg

// A verbatim register-machine sequence. It "holds" if no Cmp/Range/Lookup breaks; a verdict left
// in register 0 (by Immediate to reg 0 or a map lookup into reg 0) decides the rule.
struct RegisterBlock {
  std::vector<reg::Op> ops;
  friend bool operator==(const RegisterBlock&, const RegisterBlock&) = default;
};

// ---- Statements -----------------------------------------------------------------------------

struct Counter {  // anonymous per-rule counter; codegen gives it a slot that outlives programs
  friend bool operator==(const Counter&, const Counter&) = default;
};
struct Limit {  // holds while under the rate (or over it, when `over`); a token bucket
  uint64_t rate = 0;          // packets or bytes per `unit_seconds`
  uint64_t unit_seconds = 1;
  uint32_t burst = 0;
  bool bytes = false;
  bool over = false;
  friend bool operator==(const Limit&, const Limit&) = default;
};
struct Quota {  // holds until `bytes` have passed (or after, when `over`)
  uint64_t bytes = 0;
  uint64_t consumed = 0;
  bool over = false;
  friend bool operator==(const Quota&, const Quota&) = default;
};
// A named stateful object of the table (counter, quota, limit). Quotas and limits carry the
// object's definition: nft lowering sees only the name, the daemon fills it from the table's
// objects (nfnl-server/offload/store_to_ir.cpp). Their state belongs to the name, shared by every
// rule that refers to it.
struct ObjectRef {
  std::string kind, name;
  std::optional<Quota> quota;  // kind "quota": bytes, over, consumed when loaded
  std::optional<Limit> limit;  // kind "limit"
  friend bool operator==(const ObjectRef&, const ObjectRef&) = default;
};
struct Log {
  std::string prefix;
  std::optional<uint32_t> group;   // nflog group; otherwise syslog-style at `level`
  uint32_t level = 4;
  uint32_t flags = 0;
  friend bool operator==(const Log&, const Log&) = default;
};
struct SetMark {  // meta mark set (mark & ~clear) ^ value: "mark set 5" is clear=~0, value=5
  uint32_t clear = 0xffffffff;
  uint32_t value = 0;
  friend bool operator==(const SetMark&, const SetMark&) = default;
};
// Verdict map: look the key up in a map whose data are verdicts; no element, no match.
struct VerdictMap {
  std::vector<Field> key;
  std::string set;
  friend bool operator==(const VerdictMap&, const VerdictMap&) = default;
};

using Step = std::variant<Match, RegisterBlock, Counter, ObjectRef, Limit, Quota, Log, SetMark, VerdictMap>;

struct Rule {
  uint64_t handle = 0;          // nft handle, or the ipt entry's index
  std::vector<Step> steps;      // in order; see the file comment
  Verdict verdict;              // when every step held (kContinue: fall through to the next rule)
  std::string comment;
  // Set by translate/passes/merge_runs when this rule stands for a run of rules that each count:
  // step `lookup_step` is an in-set Match on a data map whose 4-byte data (host order) is the
  // index in `handles` of the rule the key belongs to, and the rule's last step, a Counter,
  // counts for that rule (codegen keys its slot by that rule's handle, so listings stay exact).
  struct MergedRun {
    uint32_t lookup_step = 0;
    std::vector<uint64_t> handles;
  };
  std::optional<MergedRun> merged;
  // Set by translate/passes/classify on the first rule of a classified block: this rule and the
  // `rules - 1` rules after it in the chain (all kept as they are, counters and handles included)
  // are decided together. Each field is looked up in `set`, a data map from the field's value to
  // a bitmap of the block's rules (`words` little-endian u64s, bit i = the i-th rule of the
  // block) that admit it; a missing field or a value not in the set gives `wildcard`. The AND of
  // the bitmaps' lowest set bit is the first rule that matches: it runs (its counter counts, its
  // verdict applies); no bit set: no rule of the block matches. Anything that compiles or
  // evaluates the rules one by one instead stays exact.
  struct Classified {
    uint32_t rules = 0;
    uint32_t words = 0;
    struct Lookup {
      Field field;
      std::string set;
      Bytes wildcard;  // words * 8 bytes
    };
    std::vector<Lookup> fields;
  };
  std::optional<Classified> classified;
};

// ---- Sets and maps ----------------------------------------------------------------------------

enum SetFlags : uint32_t {  // nft's NFT_SET_* values, so they pass through unchanged
  kSetAnonymous = 0x1, kSetConstant = 0x2, kSetInterval = 0x4, kSetMap = 0x8,
  kSetTimeout = 0x10, kSetEval = 0x20, kSetObject = 0x40, kSetConcat = 0x80,
};

struct Element {
  Bytes key;      // register layout of the set key
  Bytes key_end;  // interval sets: inclusive upper end (normalised; empty otherwise)
  std::optional<Verdict> verdict;  // verdict maps
  Bytes data;                      // data maps
  std::optional<uint64_t> timeout_ms;
  std::string comment;
};

struct Set {
  std::string name;
  uint32_t flags = 0;              // SetFlags
  uint32_t key_type = 0;           // nft datatype id (informational, for printing)
  std::vector<uint32_t> key_parts; // byte length of each concatenated part (unpadded)
  uint32_t key_len = 0;            // register layout length (parts padded to 4)
  bool verdict_map = false;
  uint32_t data_len = 0;           // data maps
  std::vector<Element> elements;
  // The catch-all element ('*'), if the set has one: as nft_set_catchall_lookup, it matches
  // (and for maps gives its verdict/data) whenever the key matches no element. key is empty.
  std::optional<Element> catchall;
};

// ---- Chains, tables, ruleset ------------------------------------------------------------------

struct BaseHook {
  Hook hook = Hook::kInput;
  int32_t priority = 0;
  ChainType type = ChainType::kFilter;
  std::vector<std::string> devices;  // netdev chains
};

struct Chain {
  std::string name;
  uint64_t handle = 0;
  std::optional<BaseHook> base;  // set for base chains
  VerdictKind policy = VerdictKind::kAccept;  // base chains: kAccept or kDrop
  std::vector<Rule> rules;
};

struct Table {
  Family family = Family::kIp;
  std::string name;
  uint64_t handle = 0;
  uint32_t flags = 0;  // NFT_TABLE_F_*
  std::vector<Chain> chains;
  std::vector<Set> sets;
};

struct Ruleset {
  std::vector<Table> tables;
};

// Lookup helpers: nullptr when absent.
const Chain* find_chain(const Table& t, std::string_view name);
const Set* find_set(const Table& t, std::string_view name);

}  // namespace nfbpf::ir
