#pragma once
// Per-message handlers. Batch handlers stage ops in the transaction (kernel: nf_tables_new*,
// nf_tables_del*); GET handlers build replies from the committed ruleset.

#include <vector>

#include "common/result.h"
#include "nfnl-server/nftables/request.h"
#include "nfnl-server/nftables/txn.h"

namespace nfbpf::nftables {

struct BatchCtx {
  Txn& txn;
  store::Ruleset& rs;
  const Request& req;
  OpOrigin origin;
};

struct GetCtx {
  const store::Ruleset& rs;
  const Request& req;
  uint32_t portid;
  // Replies the kernel has already unicast when a later part of the request fails (a GET of
  // several set elements answers each found one before the error); sent before the error.
  std::vector<nfnl::Message>* sent_before_error = nullptr;
};

using BatchHandler = Result<void> (*)(BatchCtx&);
using GetHandler = Result<std::vector<nfnl::Message>> (*)(const GetCtx&);

// Families nf_tables accepts (nft_supported_family()).
bool supported_family(uint8_t family);
// nft_table_lookup(): EINVAL without a name, EPERM for another owner's table, ENOENT.
Result<store::Table*> lookup_table(const store::Ruleset& rs, const Attr* name, uint8_t family,
                                   uint32_t portid);

Result<void> new_table(BatchCtx& c);
Result<void> del_table(BatchCtx& c);
Result<void> new_chain(BatchCtx& c);
Result<void> del_chain(BatchCtx& c);
Result<void> new_rule(BatchCtx& c);
Result<void> del_rule(BatchCtx& c);
Result<void> new_set(BatchCtx& c);
Result<void> del_set(BatchCtx& c);
Result<void> new_setelem(BatchCtx& c);
Result<void> new_obj(BatchCtx& c);
Result<void> del_obj(BatchCtx& c);
Result<void> del_setelem(BatchCtx& c);
// Flowtables are not emulated: the kernel's ENOENT when it has no flowtable type, else EOPNOTSUPP.
Result<void> new_flowtable(BatchCtx& c);
// Stages deletion of a whole table (rules, sets, chains, then the table), as nft_flush_table().
Result<void> flush_table(BatchCtx& c, store::Table* t);

Result<std::vector<nfnl::Message>> get_table(const GetCtx& c);
Result<std::vector<nfnl::Message>> get_chain(const GetCtx& c);
Result<std::vector<nfnl::Message>> get_rule(const GetCtx& c);
Result<std::vector<nfnl::Message>> get_set(const GetCtx& c);
Result<std::vector<nfnl::Message>> get_setelem(const GetCtx& c);
Result<std::vector<nfnl::Message>> get_gen(const GetCtx& c);
Result<std::vector<nfnl::Message>> get_obj(const GetCtx& c);
// Object types we do not model yet (stateful objects, flowtables): empty dumps.
Result<std::vector<nfnl::Message>> get_empty(const GetCtx& c);

}  // namespace nfbpf::nftables
