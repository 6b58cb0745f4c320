// NEWFLOWTABLE (nf_tables_newflowtable) as far as nfbpfd goes: flowtables are not emulated, but
// a kernel without a flowtable type for the family refuses them with ENOENT, and so do we, at
// the same point of the kernel's checks (after the table lookup, before the hook).
#include <linux/netfilter/nf_tables.h>

#include "nfnl-server/nftables/handlers.h"
#include "nfnl-server/nftables/kernel_caps.h"

namespace nfbpf::nftables {

Result<void> new_flowtable(BatchCtx& c) {
  const Request& r = c.req;
  if (!r[NFTA_FLOWTABLE_TABLE] || !r[NFTA_FLOWTABLE_NAME] || !r[NFTA_FLOWTABLE_HOOK])
    return fail(EINVAL, "");
  auto table = lookup_table(c.rs, r[NFTA_FLOWTABLE_TABLE], r.family, r.peer->portid);
  if (!table) return fail_at(table.error().err, r[NFTA_FLOWTABLE_TABLE]);
  // No flowtable is ever stored, so the name lookup always takes the "create" path.
  if (!kernel_caps().has_flowtable(r.family)) return fail(ENOENT, "");  // nft_flowtable_type_get
  return fail(EOPNOTSUPP, "flowtables are not emulated");
}

}  // namespace nfbpf::nftables
