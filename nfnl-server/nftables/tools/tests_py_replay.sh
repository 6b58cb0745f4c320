#!/bin/bash
# Differential test over the nftables 1.0.6 tests-py suite: every *.t file becomes a scenario
# (gen_tests_py.py), is recorded against the kernel in a fresh network namespace (capture.sh),
# and the recording is replayed into the protocol (nftables_replay_test), which must answer every
# request byte-identically. Needs root. Usage: tests_py_replay.sh REPLAY_TEST_BINARY [SUITE_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
suite=${2:-/work/shared/peer-suites/nftables-1.0.6/tests-py}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$suite"/*/*.t; do
  n=$(basename "$(dirname "$f")")_$(basename "$f" .t)
  "$here/gen_tests_py.py" "$f" > "$work/$n.cmds"
  "$here/capture.sh" "$work/$n.cmds" "$work/$n.cap"
done
NFBPF_REPLAY_DIR="$work" "$bin"
