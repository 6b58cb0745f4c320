#pragma once
// ct keys at netfilter hooks (ct.cpp): which ones run, and the kernel constant expiration needs.

#include "codegen/matcher/context.h"

namespace nfbpf::codegen::matcher {

// EOPNOTSUPP naming the key and the flavor when it cannot be read there (or at all).
Result<void> ct_supported(const flavor::FlavorOps& f, const ir::Field& field, bool have_nfct);

// The kernel's HZ (CONFIG_HZ from /proc/config.gz, else /boot/config-<release>), for ct
// expiration's jiffies_to_msecs. Read once per process.
Result<uint32_t> read_kernel_hz();

}  // namespace nfbpf::codegen::matcher
