#!/usr/bin/env bash
# Builds and runs the benchmarks, then regenerates docs/performance.md (and its plot) from their
# results. Root is needed: BPF_PROG_TEST_RUN, and the live benchmark (bench/live/run.py), which
# attaches only inside network namespaces it creates and removes.
# `scripts/bench.sh --no-live` skips the live benchmark (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
live=1
if [ "${1:-}" = --no-live ]; then live=0; shift; fi
cmake --build --preset release -j "$(nproc)" --target nfbpf_prog_bench nfbpf_commit_bench nfbpf_live_sender \
  nfbpfd nfbpf_shim
build/bench/nfbpf_prog_bench --benchmark_format=json --benchmark_out=build/prog_bench.json \
  --benchmark_out_format=json "$@" >/dev/null
build/bench/nfbpf_commit_bench --benchmark_format=json --benchmark_out=build/commit_bench.json \
  --benchmark_out_format=json >/dev/null
if [ "$live" = 1 ]; then
  python3 bench/live/run.py --build build --out build/live_bench.json
fi
python3 bench/report.py build/prog_bench.json build/commit_bench.json build/live_bench.json > docs/performance.md.new
mv docs/performance.md.new docs/performance.md
echo "bench: docs/performance.md regenerated"
