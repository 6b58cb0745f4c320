#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, ASan + UBSan) and runs each one.
#   scripts/fuzz.sh            # 10 minutes per target (the bar each parser must pass)
#   scripts/fuzz.sh 20         # 20 seconds per target (what scripts/test.sh runs in CI)
# Seeds come from real nft traffic recorded against the kernel; crashes land in build-fuzz/crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}

cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNFBPF_FUZZ=ON -DNFBPF_SANITIZE=ON -DNFBPF_WERROR=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(nftables_protocol_fuzz)
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"

mkdir -p build-fuzz/crashes
corpus=build-fuzz/corpus/nftables_protocol
rm -rf "$corpus" && mkdir -p "$corpus"
python3 nfnl-server/nftables/fuzz/make_corpus.py "$corpus" >/dev/null
for t in "${targets[@]}"; do
  echo "fuzz: $t for ${secs}s"
  build-fuzz/bin/"$t" -max_len=65536 -timeout=5 -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix=build-fuzz/crashes/"$t"- "$corpus" 2>&1 | grep -E "^(stat::number_of_executed_units|Done|==[0-9]+==ERROR|SUMMARY)" || true
  if ls build-fuzz/crashes/"$t"-* >/dev/null 2>&1; then
    echo "fuzz: $t found a crash: $(ls build-fuzz/crashes/"$t"-*)" >&2
    exit 1
  fi
done
echo "fuzz: clean"
