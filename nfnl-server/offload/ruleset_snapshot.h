#pragma once
// The committed ruleset saved to disk (nfbpfd --state-dir) and replayed into a fresh daemon.
//
// Saved form: the kernel's dump messages of every live object (nftables/fill.h: tables, chains,
// sets with their elements, objects, rules, handles included), each as a u32 length + the
// message, after an 8-byte magic. Tables owned by a client (NFT_TABLE_F_OWNER) are left out:
// they die with their owner's socket, which did not survive the daemon.
//
// Replay: one nf_tables batch of NEW* requests, built with libnftnl from the saved messages, that
// recreates the same objects with the same handles (handles name rules in `nft -a`, and counter
// slots and compiled programs are keyed by them, so adoption depends on it). Handles are drawn
// from counters in creation order (ruleset.h, table.h), so the batch creates each table's
// objects in handle order and fills the gaps with a throw-away chain (or table) created and
// deleted in the same batch. Rules are placed relative to those already replayed (after the
// nearest earlier one in the chain, or at the head), so `nft insert` orders come back too.
// Anonymous sets get their elements at once (before the rule binds them), named sets at the end
// of their table (verdict maps may jump to chains created later). Not saved: flowtables.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "nfnl-server/store/ruleset.h"

namespace nfbpf::offload {

// The live (vis.cur) ruleset, expired elements left out.
std::vector<uint8_t> save_ruleset(const store::Ruleset& rs);

// The replay batch (NFNL_MSG_BATCH_BEGIN ... END) for a saved ruleset; EINVAL if it is corrupt.
Result<std::vector<uint8_t>> replay_batch(std::span<const uint8_t> saved);

// Writes `bytes` to `path` so that a crash leaves either the old file or the new one:
// a temporary file in the same directory, fsync, rename, fsync of the directory.
Result<void> write_file_atomically(const std::string& path, std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> read_file(const std::string& path);

}  // namespace nfbpf::offload
