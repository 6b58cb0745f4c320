#!/usr/bin/env bash
# Sets up a fresh machine, builds nfbpf, and runs the demo (scripts/demo/run.sh): nfbpfd in a
# scratch network namespace, driven by the unmodified nft, filtering UDP sent over a veth pair,
# with the counters shown by `nft list ruleset` and `nfbpf status`. Nothing outside the demo's own
# namespaces is touched. `scripts/demo.sh --codegen` runs the compiler-level demo instead (an IR
# chain compiled and attached without the daemon).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
if [ "${1:-}" = --codegen ]; then
  cmake --build --preset release -j "$(nproc)" --target nfbpf-demo
  exec build/bin/nfbpf-demo
fi
cmake --build --preset release -j "$(nproc)" --target nfbpfd nfbpf-run nfbpf_shim nfbpf
exec scripts/demo/run.sh build
