#include "nfnl-server/nftables/policies.h"

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <array>

namespace nfbpf::nftables::policy {
namespace {

using T = NlaType;
constexpr uint16_t kName = NFT_NAME_MAXLEN - 1;  // 255
constexpr uint16_t kUserdata = NFT_USERDATA_MAXLEN;
constexpr uint16_t kAutoload = 42;  // NFT_MODULE_AUTOLOAD_LIMIT = MODULE_NAME_LEN(56) - sizeof("nft-expr-255-")

template <size_t N>
constexpr std::array<NlaPolicy, N> make(std::initializer_list<std::pair<int, NlaPolicy>> l) {
  std::array<NlaPolicy, N> a{};
  for (auto& [i, p] : l) a[size_t(i)] = p;
  return a;
}

const auto kTable = make<NFTA_TABLE_MAX + 1>({
    {NFTA_TABLE_NAME, {T::kString, kName}},
    {NFTA_TABLE_FLAGS, {T::kU32}},
    {NFTA_TABLE_HANDLE, {T::kU64}},
    {NFTA_TABLE_USERDATA, {T::kBinary, kUserdata}},
});
const auto kChain = make<NFTA_CHAIN_MAX + 1>({
    {NFTA_CHAIN_TABLE, {T::kString, kName}},
    {NFTA_CHAIN_HANDLE, {T::kU64}},
    {NFTA_CHAIN_NAME, {T::kString, kName}},
    {NFTA_CHAIN_HOOK, {T::kNested}},
    {NFTA_CHAIN_POLICY, {T::kU32}},
    {NFTA_CHAIN_TYPE, {T::kString, kAutoload}},
    {NFTA_CHAIN_COUNTERS, {T::kNested}},
    {NFTA_CHAIN_FLAGS, {T::kU32}},
    {NFTA_CHAIN_ID, {T::kU32}},
    {NFTA_CHAIN_USERDATA, {T::kBinary, kUserdata}},
});
// nft_counter_policy: the base chain counters of NFTA_CHAIN_COUNTERS (nft_stats_alloc).
const auto kChainCounters = make<NFTA_COUNTER_MAX + 1>({
    {NFTA_COUNTER_PACKETS, {T::kU64}},
    {NFTA_COUNTER_BYTES, {T::kU64}},
});
const auto kHook = make<NFTA_HOOK_MAX + 1>({
    {NFTA_HOOK_HOOKNUM, {T::kU32}},
    {NFTA_HOOK_PRIORITY, {T::kU32}},
    {NFTA_HOOK_DEV, {T::kString, 15}},
    {NFTA_HOOK_DEVS, {T::kNested}},
});
const auto kRule = make<NFTA_RULE_MAX + 1>({
    {NFTA_RULE_TABLE, {T::kString, kName}},
    {NFTA_RULE_CHAIN, {T::kString, kName}},
    {NFTA_RULE_HANDLE, {T::kU64}},
    {NFTA_RULE_EXPRESSIONS, {T::kNested}},
    {NFTA_RULE_COMPAT, {T::kNested}},
    {NFTA_RULE_POSITION, {T::kU64}},
    {NFTA_RULE_USERDATA, {T::kBinary, kUserdata}},
    {NFTA_RULE_ID, {T::kU32}},
    {NFTA_RULE_POSITION_ID, {T::kU32}},
    {NFTA_RULE_CHAIN_ID, {T::kU32}},
});
const auto kExpr = make<NFTA_EXPR_MAX + 1>({
    {NFTA_EXPR_NAME, {T::kString, kAutoload}},
    {NFTA_EXPR_DATA, {T::kNested}},
});
const auto kSet = make<NFTA_SET_MAX + 1>({
    {NFTA_SET_TABLE, {T::kString, kName}},
    {NFTA_SET_NAME, {T::kString, kName}},
    {NFTA_SET_FLAGS, {T::kU32}},
    {NFTA_SET_KEY_TYPE, {T::kU32}},
    {NFTA_SET_KEY_LEN, {T::kU32}},
    {NFTA_SET_DATA_TYPE, {T::kU32}},
    {NFTA_SET_DATA_LEN, {T::kU32}},
    {NFTA_SET_POLICY, {T::kU32}},
    {NFTA_SET_DESC, {T::kNested}},
    {NFTA_SET_ID, {T::kU32}},
    {NFTA_SET_TIMEOUT, {T::kU64}},
    {NFTA_SET_GC_INTERVAL, {T::kU32}},
    {NFTA_SET_USERDATA, {T::kBinary, kUserdata}},
    {NFTA_SET_OBJ_TYPE, {T::kU32}},
    {NFTA_SET_HANDLE, {T::kU64}},
    {NFTA_SET_EXPR, {T::kNested}},
    {NFTA_SET_EXPRESSIONS, {T::kNested}},
});
const auto kSetDesc = make<NFTA_SET_DESC_MAX + 1>({
    {NFTA_SET_DESC_SIZE, {T::kU32}},
    {NFTA_SET_DESC_CONCAT, {T::kNested}},
});
const auto kElemList = make<NFTA_SET_ELEM_LIST_MAX + 1>({
    {NFTA_SET_ELEM_LIST_TABLE, {T::kString, kName}},
    {NFTA_SET_ELEM_LIST_SET, {T::kString, kName}},
    {NFTA_SET_ELEM_LIST_ELEMENTS, {T::kNested}},
    {NFTA_SET_ELEM_LIST_SET_ID, {T::kU32}},
});
const auto kElem = make<NFTA_SET_ELEM_MAX + 1>({
    {NFTA_SET_ELEM_KEY, {T::kNested}},
    {NFTA_SET_ELEM_DATA, {T::kNested}},
    {NFTA_SET_ELEM_FLAGS, {T::kU32}},
    {NFTA_SET_ELEM_TIMEOUT, {T::kU64}},
    {NFTA_SET_ELEM_EXPIRATION, {T::kU64}},
    {NFTA_SET_ELEM_USERDATA, {T::kBinary, kUserdata}},
    {NFTA_SET_ELEM_EXPR, {T::kNested}},
    {NFTA_SET_ELEM_OBJREF, {T::kString, kName}},
    {NFTA_SET_ELEM_KEY_END, {T::kNested}},
    {NFTA_SET_ELEM_EXPRESSIONS, {T::kNested}},
});
const auto kData = make<NFTA_DATA_MAX + 1>({
    {NFTA_DATA_VALUE, {T::kBinary, 64}},
    {NFTA_DATA_VERDICT, {T::kNested}},
});
const auto kVerdict = make<NFTA_VERDICT_MAX + 1>({
    {NFTA_VERDICT_CODE, {T::kU32}},
    {NFTA_VERDICT_CHAIN, {T::kString, kName}},
    {NFTA_VERDICT_CHAIN_ID, {T::kU32}},
});
const auto kGen = make<NFTA_GEN_MAX + 1>({});
const auto kBatch = make<NFNL_BATCH_MAX + 1>({{NFNL_BATCH_GENID, {T::kU32}}});
const auto kObj = make<NFTA_OBJ_MAX + 1>({
    {NFTA_OBJ_TABLE, {T::kString, kName}},
    {NFTA_OBJ_NAME, {T::kString, kName}},
    {NFTA_OBJ_TYPE, {T::kU32}},
    {NFTA_OBJ_DATA, {T::kNested}},
    {NFTA_OBJ_HANDLE, {T::kU64}},
    {NFTA_OBJ_USERDATA, {T::kBinary, kUserdata}},
});
const auto kFlowtable = make<NFTA_FLOWTABLE_MAX + 1>({
    {NFTA_FLOWTABLE_TABLE, {T::kString, kName}},
    {NFTA_FLOWTABLE_NAME, {T::kString, kName}},
    {NFTA_FLOWTABLE_HOOK, {T::kNested}},
    {NFTA_FLOWTABLE_HANDLE, {T::kU64}},
    {NFTA_FLOWTABLE_FLAGS, {T::kU32}},
});
const std::array<NlaPolicy, 1> kEmpty{};

}  // namespace

Policy table() { return kTable; }
Policy chain() { return kChain; }
Policy hook() { return kHook; }
Policy chain_counters() { return kChainCounters; }
Policy rule() { return kRule; }
Policy expr() { return kExpr; }
Policy set() { return kSet; }
Policy set_desc() { return kSetDesc; }
Policy set_elem_list() { return kElemList; }
Policy set_elem() { return kElem; }
Policy data() { return kData; }
Policy verdict() { return kVerdict; }
Policy gen() { return kGen; }
Policy batch() { return kBatch; }
Policy obj() { return kObj; }
Policy flowtable() { return kFlowtable; }

Policy for_msg(uint16_t type) {
  switch (type) {
    case NFT_MSG_NEWTABLE: case NFT_MSG_GETTABLE: case NFT_MSG_DELTABLE: case NFT_MSG_DESTROYTABLE:
      return kTable;
    case NFT_MSG_NEWCHAIN: case NFT_MSG_GETCHAIN: case NFT_MSG_DELCHAIN: case NFT_MSG_DESTROYCHAIN:
      return kChain;
    case NFT_MSG_NEWRULE: case NFT_MSG_GETRULE: case NFT_MSG_DELRULE: case NFT_MSG_DESTROYRULE:
    case NFT_MSG_GETRULE_RESET:
      return kRule;
    case NFT_MSG_NEWSET: case NFT_MSG_GETSET: case NFT_MSG_DELSET: case NFT_MSG_DESTROYSET:
      return kSet;
    case NFT_MSG_NEWSETELEM: case NFT_MSG_GETSETELEM: case NFT_MSG_DELSETELEM:
    case NFT_MSG_DESTROYSETELEM: case NFT_MSG_GETSETELEM_RESET:
      return kElemList;
    case NFT_MSG_NEWOBJ: case NFT_MSG_GETOBJ: case NFT_MSG_DELOBJ: case NFT_MSG_DESTROYOBJ:
    case NFT_MSG_GETOBJ_RESET:
      return kObj;
    case NFT_MSG_NEWFLOWTABLE: case NFT_MSG_GETFLOWTABLE: case NFT_MSG_DELFLOWTABLE:
    case NFT_MSG_DESTROYFLOWTABLE:
      return kFlowtable;
    default:
      return kEmpty;
  }
}

}  // namespace nfbpf::nftables::policy
