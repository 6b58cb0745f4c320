#pragma once
// Asks the running kernel which nf_tables expression and object types it knows, inside a
// private network namespace created for the purpose (the caller's namespace is never touched).
//
// Expressions: per family, one batch NEWTABLE + NEWCHAIN + NEWRULE whose expression list is
// [{name = kind, no data}, {no name}]. nf_tables_newrule() parses every expression (type
// lookup, select_ops) before initialising any, so an unknown type fails on the FIRST element
// with ENOENT, while a known one lets parsing reach the nameless second element (EINVAL). The
// extended ack's NLMSGERR_ATTR_OFFS says which element failed, so an ENOENT from some
// expression's ->init() can never be mistaken for a missing type.
// Objects: NEWTABLE + NEWOBJ {type, empty data}: ENOENT = the type is unknown.
// Meta keys: rules [meta get KEY -> reg 1] and [meta set KEY <- reg 1]; any error is the
// kernel's answer for that key in that family (e.g. EOPNOTSUPP for the bridge keys when
// nft_meta_bridge is not built).
// Flowtables: NEWFLOWTABLE with an ingress hook; ENOENT = no flowtable type for the family.
// Secmark: NEWOBJ secmark with a well-formed context; ENOENT = contexts do not resolve.

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "nfnl-server/nftables/kernel_caps.h"

namespace nfbpf::nftables {

struct ProbeRequest {
  std::vector<uint8_t> families;          // NFPROTO_* (families whose tables fail are skipped)
  std::vector<std::string_view> exprs;    // expression type names
  std::vector<uint32_t> meta_keys;        // NFT_META_* keys probed as meta get and set
  std::vector<uint32_t> objects;          // NFT_OBJECT_* types
};

// Every expression and object type nfbpfd understands, in every nf_tables family.
const ProbeRequest& default_probe_request();

// Runs the probe on a thread of its own that unshare(CLONE_NEWNET)s (CAP_SYS_ADMIN needed).
// Fails (no caps recorded) when the namespace or socket cannot be had, or when the kernel does
// not answer as described above for a sentinel unknown type and a core type.
Result<KernelCaps> probe_kernel(const ProbeRequest& req);

}  // namespace nfbpf::nftables
