#pragma once
// Conntrack for offloaded rulesets that read it.
//
// In the kernel, every `ct` expression of a committed ruleset holds nf_ct_netns_get(net, family)
// (nft_ct_get_init, for rules in base and regular chains alike): that registers the conntrack
// and defrag hooks of the family in the namespace, and the last nf_ct_netns_put unregisters them.
// A BPF netfilter program can only read skb->_nfct; nothing it can do registers conntrack. So the
// daemon keeps, in its own namespace, one small KERNEL nf_tables table per family whose offloaded
// ruleset reads conntrack:
//
//   table <family> nfbpf_conntrack { flags owner,persist
//     chain anchor { ct state established }      # a regular chain: never runs, only holds the ref
//     (+ `ct bytes 0` when some rule reads ct bytes/packets/avgpkt: nft_ct_get_init then also
//      switches on accounting, nf_ct_set_acct, as it would for that rule)
//   }
//
// Why owner + persist (NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST, kernel >= 6.9): owner means no
// other process (an admin's `nft flush ruleset`, another daemon) can delete it or change it while
// the daemon runs; persist means the table, and so conntrack, outlives a crash of the daemon, so
// pinned BPF programs that read `ct state` keep seeing entries. A restarted daemon adopts the
// orphaned table (NEWTABLE with the owner flag on an orphan takes it over) and rewrites its rules.
// A clean shutdown deletes the tables unless keep_on_exit() was called (for a daemon that leaves
// pinned programs running on purpose).
//
// Transactions mirror nf_tables: stage() (from OffloadHook::prepare) adds what the proposed
// ruleset needs and keeps what runs now, so conntrack is on before any new program sees packets;
// commit() drops what only the old ruleset needed; abort() returns to the committed needs.
// The netlink socket (KernelNftClient, shared code with hybrid mode's kernel tables) is opened in
// the calling thread's network namespace at the first change.

#include <set>
#include <string>

#include "common/fd.h"
#include "nfnl-server/offload/kernel_nft_client.h"
#include "common/result.h"
#include "translate/ir/ir.h"

namespace nfbpf::offload {

inline constexpr const char* kConntrackAnchorTable = "nfbpf_conntrack";
inline constexpr const char* kConntrackAnchorChain = "anchor";

struct ConntrackNeeds {
  std::set<ir::Family> families;  // kIp, kIp6, kInet (nf_ct_netns_get's family, as the table's)
  bool accounting = false;        // ct bytes/packets/avgpkt somewhere: nf_ct_set_acct(net, true)

  bool empty() const { return families.empty(); }
  friend bool operator==(const ConntrackNeeds&, const ConntrackNeeds&) = default;
};

// What the kernel would hold for this ruleset: every table (dormant or not) with any ct load in
// any rule of any chain, reachable or not. Families without conntrack (netdev, arp, bridge) are
// left out (codegen refuses ct there anyway).
ConntrackNeeds conntrack_needs(const ir::Ruleset& rs);
ConntrackNeeds merged(const ConntrackNeeds& a, const ConntrackNeeds& b);

class ConntrackAnchor {
 public:
  ConntrackAnchor() = default;
  ConntrackAnchor(const ConntrackAnchor&) = delete;
  ConntrackAnchor& operator=(const ConntrackAnchor&) = delete;
  ~ConntrackAnchor();

  // Makes the kernel track what `next` needs in addition to what is committed.
  Result<void> stage(const ConntrackNeeds& next);
  // The staged needs become the committed ones; tables only the old ruleset needed are deleted.
  // Failures are logged (the kernel keeps tracking more than needed, which changes no verdict).
  void commit();
  // Back to the committed needs.
  void abort();

  // Exactly these needs, now (stage + commit in one).
  Result<void> set(const ConntrackNeeds& needs);

  const ConntrackNeeds& committed() const { return committed_; }
  const ConntrackNeeds& applied() const { return applied_; }

  // On destruction leave the tables in place (orphaned, conntrack keeps running) for a successor
  // daemon to adopt.
  void keep_on_exit() { keep_on_exit_ = true; }

 private:
  Result<void> apply(const ConntrackNeeds& want);

  KernelNftClient client_;  // the daemon's netlink socket to the kernel's nf_tables (opened at first use)
  ConntrackNeeds committed_;  // what the committed ruleset needs
  ConntrackNeeds staged_;     // what stage() asked for (committed_ ∪ next)
  ConntrackNeeds next_;       // the proposed ruleset's needs (becomes committed_ at commit)
  ConntrackNeeds applied_;    // what the kernel tables provide now
  bool keep_on_exit_ = false;
};

}  // namespace nfbpf::offload
