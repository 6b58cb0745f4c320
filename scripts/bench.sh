#!/usr/bin/env bash
# Builds and runs the benchmarks, then regenerates docs/performance.md from their results.
# Root is needed (BPF_PROG_TEST_RUN); nothing is attached anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target nfbpf_prog_bench nfbpf_commit_bench
build/bench/nfbpf_prog_bench --benchmark_format=json --benchmark_out=build/prog_bench.json \
  --benchmark_out_format=json "$@" >/dev/null
build/bench/nfbpf_commit_bench --benchmark_format=json --benchmark_out=build/commit_bench.json \
  --benchmark_out_format=json >/dev/null
python3 bench/report.py build/prog_bench.json build/commit_bench.json > docs/performance.md
echo "bench: docs/performance.md regenerated"
