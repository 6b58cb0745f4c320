#pragma once
// Rule expressions: request attributes -> store::Expr in the kernel's dump form, and back.
//
// The kernel re-creates every expression from its private state when dumping, so a listing is
// not an echo of the request: attributes come in the order of each expression's ->dump(),
// registers are normalised (NFT_REG32_00 dumps as NFT_REG_1), defaults appear (lookup FLAGS,
// counter BYTES/PACKETS, ...), unknown attributes vanish. parse_expr() performs that
// normalisation once, at insert time, so dumping is a plain walk.

#include <functional>

#include "common/result.h"
#include "nfnl-server/nftables/msg_writer.h"
#include "nfnl-server/nftables/nla.h"
#include "nfnl-server/store/expr.h"
#include "nfnl-server/store/table.h"

namespace nfbpf::nftables {

class Txn;

// What an expression may reference while it is being parsed.
struct ExprContext {
  store::Table* table = nullptr;
  store::Chain* chain = nullptr;  // the rule's chain (for loop checks)
  const Txn* txn = nullptr;
  std::vector<store::Chain*>* jump_targets = nullptr;  // filled with verdict chain references
  std::vector<store::Set*>* set_refs = nullptr;        // filled with referenced sets
  std::vector<store::Object*>* obj_refs = nullptr;     // filled with referenced objects
  uint8_t family = 0;  // the table's family (expression types and keys depend on it)
  const Attr* rule_compat = nullptr;  // the rule's NFTA_RULE_COMPAT (xt match/target checks)
};

// Parses one NFTA_LIST_ELEM expression. Errors carry the kernel's errno (bad_attr is set by
// the caller to the list element, as the kernel does).
Result<store::Expr> parse_expr(const Attr& elem, ExprContext& ctx);
// The same for a kind name and its NFTA_EXPR_DATA (data may be null).
Result<store::Expr> build_expr(std::string name, const Attr* data, ExprContext& ctx);
// NFTA_OBJ_DATA of an NFT_OBJECT_* type, normalised like the kernel's object ->dump().
Result<std::vector<store::ExprAttr>> parse_object_data(uint32_t type, const Attr* data,
                                                       ExprContext& ctx);

// NFT_SET_EXPR_MAX: stateful expressions a set or an element may carry.
constexpr size_t kSetExprMax = 2;
// nft_set_elem_expr_alloc()'s checks on a set's or an element's expression: only stateful
// kinds (counter, limit, quota, connlimit, last) are EOPNOTSUPP-free; connlimit (NFT_EXPR_GC)
// also needs a set without timeouts whose backend collects garbage (rhash).
Result<void> check_set_expr(const store::Expr& e, const store::Set& s);

// Parses NFTA_DATA_* (value or verdict) into an ExprAttr nest of type `type`.
Result<store::ExprAttr> parse_data(const Attr& a, ExprContext& ctx);

// Emits NFTA_EXPR_NAME + NFTA_EXPR_DATA (nf_tables_fill_expr_info).
void dump_expr_body(MsgWriter& w, const store::Expr& e);
// Emits an ExprAttr tree (nests without NLA_F_NESTED).
void dump_attr(MsgWriter& w, const store::ExprAttr& a);

}  // namespace nfbpf::nftables
