#!/usr/bin/env bash
# Sets up a fresh machine, builds nfbpf, and runs the demo: an example chain compiled to BPF,
# attached in a scratch network namespace, with packets sent over a veth pair and the per-rule
# counters read back. Nothing outside the demo's own (anonymous) namespaces is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target nfbpf-demo
exec build/bin/nfbpf-demo
