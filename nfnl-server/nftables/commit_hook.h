#pragma once
// The seam between the nf_tables control plane and whatever runs the ruleset (the BPF backend).
//
// Before a batch commits, prepare() receives the whole proposed ruleset (every object with
// vis.next set is in it; vis.cur tells what is live now). It may refuse with an Error (errno +
// message naming the object): the batch is then aborted and the error is reported to the client
// like a kernel commit failure. Exactly one of commit()/abort() follows a successful prepare().
// Hooks run on the protocol thread; they must not call back into the protocol.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "nfnl-server/store/ruleset.h"

namespace nfbpf::nftables {

// What one GET request lists: before_dump may refresh only that.
struct DumpScope {
  uint16_t type = 0;                 // NFT_MSG_GETRULE, GETCHAIN, GETOBJ, ...; 0: everything
  uint8_t family = 0;                // NFPROTO_UNSPEC: every family
  std::optional<std::string> table;  // the request's NFTA_*_TABLE, when it names one
};

class CommitHook {
 public:
  virtual ~CommitHook() = default;
  // `next` is read-only; the hook must copy what it needs (pointers are valid until commit/abort).
  virtual Result<void> prepare(const store::Ruleset& next) = 0;
  virtual void commit() = 0;
  virtual void abort() = 0;
  // Before a GET request reads the committed ruleset: refresh what the kernel reports live
  // (the offload backend writes BPF counter values into `counter` expressions and objects).
  virtual void before_dump(store::Ruleset& cur) { (void)cur; }
  // The same, knowing what the request lists (a hook whose refresh is costly refreshes only that).
  virtual void before_dump(store::Ruleset& cur, const DumpScope& scope) {
    (void)scope;
    before_dump(cur);
  }
  // After a GETRULE_RESET / GETOBJ_RESET request was answered with `replies` (the dumped values):
  // zero the counters of the rules and objects those replies carry, as the kernel does.
  virtual void after_reset(store::Ruleset& cur, std::span<const std::vector<uint8_t>> replies) {
    (void)cur;
    (void)replies;
  }
};

// Accepts everything: the ruleset is only stored (offload=none).
class AcceptAllHook final : public CommitHook {
 public:
  Result<void> prepare(const store::Ruleset&) override { return {}; }
  void commit() override {}
  void abort() override {}
};

}  // namespace nfbpf::nftables
