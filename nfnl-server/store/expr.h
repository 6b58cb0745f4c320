#pragma once
// A rule expression in parsed, walkable form: its kind name and its data attributes as a tree,
// already in the order the kernel dumps them (so a listing is a plain walk). Verdict chain
// references are stored by name (NFTA_VERDICT_CHAIN_ID is resolved at insert time).
//
// Later stages (translate/nft) read expressions through find()/be32()/... by the kind's
// NFTA_<KIND>_* attribute numbers, exactly as libnftnl's getters would.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nfbpf::store {

struct ExprAttr {
  uint16_t type = 0;
  bool nest = false;               // children are meaningful, payload is empty
  bool nest_flag = false;          // dumped with NLA_F_NESTED (nla_nest_start, not _noflag)
  std::vector<uint8_t> payload;    // raw bytes as on the wire (integers big-endian)
  std::vector<ExprAttr> children;  // for nests

  const ExprAttr* find(uint16_t t) const;
  uint32_t be32() const;
  uint64_t be64() const;
  std::string_view str() const;  // without trailing NUL
};

struct Expr {
  std::string name;             // "payload", "cmp", "immediate", ...
  std::vector<ExprAttr> data;   // NFTA_EXPR_DATA contents; empty if the kind dumps no data

  const ExprAttr* find(uint16_t t) const;
};

}  // namespace nfbpf::store
