#include "nfnl-server/nftables/dispatch.h"

#include <linux/netfilter/nf_tables.h>

#include <array>

namespace nfbpf::nftables {
namespace {

constexpr std::array<MsgHandler, NFT_MSG_MAX> make_table() {
  std::array<MsgHandler, NFT_MSG_MAX> t{};
  t[NFT_MSG_NEWTABLE] = {new_table, nullptr};
  t[NFT_MSG_GETTABLE] = {nullptr, get_table};
  t[NFT_MSG_DELTABLE] = {del_table, nullptr};
  t[NFT_MSG_DESTROYTABLE] = {del_table, nullptr};
  t[NFT_MSG_NEWCHAIN] = {new_chain, nullptr};
  t[NFT_MSG_GETCHAIN] = {nullptr, get_chain};
  t[NFT_MSG_DELCHAIN] = {del_chain, nullptr};
  t[NFT_MSG_DESTROYCHAIN] = {del_chain, nullptr};
  t[NFT_MSG_NEWRULE] = {new_rule, nullptr};
  t[NFT_MSG_GETRULE] = {nullptr, get_rule};
  t[NFT_MSG_GETRULE_RESET] = {nullptr, get_rule};
  t[NFT_MSG_DELRULE] = {del_rule, nullptr};
  t[NFT_MSG_DESTROYRULE] = {del_rule, nullptr};
  t[NFT_MSG_NEWSET] = {new_set, nullptr};
  t[NFT_MSG_GETSET] = {nullptr, get_set};
  t[NFT_MSG_DELSET] = {del_set, nullptr};
  t[NFT_MSG_DESTROYSET] = {del_set, nullptr};
  t[NFT_MSG_NEWSETELEM] = {new_setelem, nullptr};
  t[NFT_MSG_GETSETELEM] = {nullptr, get_setelem};
  t[NFT_MSG_GETSETELEM_RESET] = {nullptr, get_setelem};
  t[NFT_MSG_DELSETELEM] = {del_setelem, nullptr};
  t[NFT_MSG_DESTROYSETELEM] = {del_setelem, nullptr};
  t[NFT_MSG_GETGEN] = {nullptr, get_gen};
  t[NFT_MSG_NEWOBJ] = {new_obj, nullptr};
  t[NFT_MSG_GETOBJ] = {nullptr, get_obj};
  t[NFT_MSG_GETOBJ_RESET] = {nullptr, get_obj};
  t[NFT_MSG_DELOBJ] = {del_obj, nullptr};
  t[NFT_MSG_DESTROYOBJ] = {del_obj, nullptr};
  t[NFT_MSG_NEWFLOWTABLE] = {new_flowtable, nullptr};
  t[NFT_MSG_GETFLOWTABLE] = {nullptr, get_empty};
  return t;
}

constexpr auto kHandlers = make_table();

}  // namespace

const MsgHandler* find_handler(uint16_t m) { return m < kHandlers.size() ? &kHandlers[m] : nullptr; }

}  // namespace nfbpf::nftables
