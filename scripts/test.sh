#!/usr/bin/env bash
# Sets up a fresh machine, builds nfbpf (release preset), and runs every test.
# Root is needed: tests load BPF programs and create network namespaces (never touching the root one).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)"
# Unit, runtime (BPF_PROG_TEST_RUN) and namespace tests, all registered with CTest.
ctest --preset release -j 1 --timeout 600
# Fuzz targets (clang/libFuzzer), briefly; `scripts/fuzz.sh` alone runs them 10 minutes each.
bash scripts/fuzz.sh 20
# Differential suites against the kernel as oracle (each case in its own scratch namespace).
if [ -x compat-tests/run.sh ]; then
  compat-tests/run.sh --ci
  compat-tests/run.sh --iptables --ci   # iptables-legacy and iptables-nft
fi
