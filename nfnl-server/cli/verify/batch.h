#pragma once
// `nfbpf verify --batch`: one testbed (scratch namespaces, a private nfbpfd) kept across many
// requests, read as JSON lines on stdin, each answered by one JSON line on stdout. What
// compat-tests' verdict differential runs on (thousands of experiments: a testbed per experiment
// would cost its setup, ~0.3 s, each time). Requests (docs/migration.md, "Batch mode"):
//   {"kind": "verify", "ruleset": PATH, "format"?}  the report of `nfbpf verify PATH --json`
//   {"kind": "experiment", ...}                    one compat-tests experiment (experiment.h)
//   {"kind": "kernel-list", "file": PATH}          load PATH on the kernel side only; its `nft -j` listing
//   {"kind": "restart"}                            a fresh nfbpfd
// Between requests both sides are emptied (Sides::flush: the nft ruleset, and every iptables-legacy /
// ip6tables-legacy table once anything could have touched x_tables).
// Any request may carry "id", echoed in its reply. The first line written is
// {"ready": true, ...} once the testbed is up, or {"status": "error", ...} (exit 2).

#include <iosfwd>

#include "nfnl-server/cli/verify/engine.h"

namespace nfbpf::verify {

int run_batch(const VerifyOptions& opt, std::istream& in, std::ostream& out);

}  // namespace nfbpf::verify
