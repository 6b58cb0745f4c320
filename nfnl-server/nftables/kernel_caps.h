#pragma once
// What THIS kernel's nf_tables can do, as far as nfbpfd must refuse what the kernel refuses:
// which expression types exist per family (a kernel built without CONFIG_NFT_QUEUE answers
// ENOENT for "queue"), which object types exist, and whether secmark contexts resolve (without
// an LSM every secmark object is ENOENT). The answers come from asking the running kernel
// (kernel_probe.h), never from a list of what "should" be there; they are probed once and kept
// for the life of the process.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace nfbpf::nftables {

struct KernelCaps {
  // (NFPROTO_* family, expression name) pairs the kernel refused as unknown.
  std::set<std::pair<uint8_t, std::string>> missing_exprs;
  // (NFPROTO_* family, NFT_OBJECT_* type) pairs the kernel refused as unknown.
  std::set<std::pair<uint8_t, uint32_t>> missing_objects;
  // (family, NFT_META_* key) -> errno of a `meta get` of that key (absent: accepted).
  std::map<std::pair<uint8_t, uint32_t>, int> meta_get_errors;
  // The same for `meta set` (NFTA_META_SREG).
  std::map<std::pair<uint8_t, uint32_t>, int> meta_set_errors;
  // Families the kernel has no tables for (nft_supported_family(): EOPNOTSUPP), of those probed.
  std::set<uint8_t> unsupported_families;
  // Families without a flowtable type (CONFIG_NF_FLOW_TABLE and its per-family parts).
  std::set<uint8_t> missing_flowtables;
  // The kernel refused a well-formed secmark object with ENOENT (no LSM maps the context).
  bool secmark_unresolvable = false;
  // False when the kernel could not be asked (no privileges): everything counts as available.
  bool probed = false;

  bool has_expr(uint8_t family, std::string_view name) const {
    return !missing_exprs.contains({family, std::string(name)});
  }
  bool has_object(uint8_t family, uint32_t type) const {
    return !missing_objects.contains({family, type});
  }
  int meta_get_error(uint8_t family, uint32_t key) const {
    auto it = meta_get_errors.find({family, key});
    return it == meta_get_errors.end() ? 0 : it->second;
  }
  bool has_family(uint8_t family) const { return !unsupported_families.contains(family); }
  bool has_flowtable(uint8_t family) const { return !missing_flowtables.contains(family); }
  int meta_set_error(uint8_t family, uint32_t key) const {
    auto it = meta_set_errors.find({family, key});
    return it == meta_set_errors.end() ? 0 : it->second;
  }
};

// The capabilities of the running kernel: probed on first use (thread-safe), then cached.
// If probing fails the result has probed == false and refuses nothing (a warning is logged).
const KernelCaps& kernel_caps();

// Replaces the cached answer (tests; a daemon flag could use it too). Not thread-safe against
// concurrent kernel_caps() readers: call it before serving requests.
void set_kernel_caps(KernelCaps caps);

}  // namespace nfbpf::nftables
