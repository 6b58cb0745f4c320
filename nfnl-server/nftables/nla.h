#pragma once
// Netlink attribute parsing with the kernel's nla_policy semantics (lib/nlattr.c): the same
// errno for the same malformed input, and the offset of the offending attribute so it can be
// reported in NLMSGERR_ATTR_OFFS. Attributes are views into the request; nothing is copied.

#include <linux/netlink.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

// `NFBPF_TRY_ASSIGN(x, expr);` declares `x` as the value of a Result or returns its error.
#define NFBPF_TRY_ASSIGN(var, expr)                                   \
  auto var##_result_ = (expr);                                        \
  if (!var##_result_) return std::unexpected(std::move(var##_result_).error()); \
  auto& var = *var##_result_

namespace nfbpf::nftables {

// One attribute inside a request. `offset` is relative to the start of the netlink message it
// came from (what the kernel reports as the bad attribute's offset).
struct Attr {
  uint16_t type = 0;         // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
  bool nested_flag = false;  // NLA_F_NESTED was set
  std::span<const uint8_t> payload;
  uint32_t offset = 0;

  uint8_t u8() const;
  uint16_t be16() const;
  uint32_t be32() const;
  uint64_t be64() const;
  // A string attribute without its trailing NUL (the kernel's nla_strcmp/nla_strdup view).
  std::string_view str() const;
  bool str_eq(std::string_view s) const { return str() == s; }
};

enum class NlaType : uint8_t {
  kUnspec,  // no policy entry: rejected by strict parsing ("Unsupported attribute")
  kU8,
  kU16,
  kU32,
  kU64,
  kString,     // len = max length without NUL (0 = unlimited)
  kNulString,  // must contain a NUL within len+1
  kBinary,     // len = max length (0 = unlimited)
  kNested,     // opaque nest (validated by the handler that parses it)
  kNestedArray,
  kFlag,
  kReject,
};

struct NlaPolicy {
  NlaType type = NlaType::kUnspec;
  uint16_t len = 0;
};

// A policy covers types 1..max (index 0 unused), as `struct nla_policy p[MAX + 1]`.
using Policy = std::span<const NlaPolicy>;

// Parsed attributes indexed by type; tb[t] is the last attribute of type t, as in the kernel.
class AttrTable {
 public:
  explicit AttrTable(size_t max) : tb_(max + 1) {}
  const Attr* operator[](size_t t) const { return t < tb_.size() && tb_[t] ? &*tb_[t] : nullptr; }
  bool has(size_t t) const { return (*this)[t] != nullptr; }
  void set(size_t t, const Attr& a) { tb_[t] = a; }
  size_t max() const { return tb_.size() - 1; }

 private:
  std::vector<std::optional<Attr>> tb_;
};

// Walks attributes in `data`, which starts `base_offset` bytes into its message. Stops silently
// at a truncated attribute; `rest` receives the number of unparsed trailing bytes.
std::vector<Attr> split_attrs(std::span<const uint8_t> data, uint32_t base_offset, size_t* rest);

// The kernel's nla_parse() (strict = NL_VALIDATE_STRICT, used at the top level of nfnetlink) or
// nla_parse_nested_deprecated() (strict = false, used for most nests in nf_tables). On failure the
// Error carries the kernel's errno, its extack text and the offending attribute's offset; the
// caller decides whether the extack is reported (the batch path parses with a NULL extack).
// If `failed` is given, it receives the policy entry of an attribute that failed validation
// where the kernel reports it (NL_SET_ERR_MSG_ATTR_POL -> NLMSGERR_ATTR_POLICY).
Result<AttrTable> parse_attrs(std::span<const uint8_t> data, uint32_t base_offset, Policy policy,
                              bool strict, const NlaPolicy** failed = nullptr);
// Same for the payload of a nest attribute.
Result<AttrTable> parse_nested(const Attr& nest, Policy policy, bool strict = false);

}  // namespace nfbpf::nftables
