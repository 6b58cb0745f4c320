#!/bin/bash
# Loads a generated long mix (gen_long_ruleset.py --rules N) into a private nfbpfd --offload=strict
# by `nfbpf-run nft -f`, inside a network namespace of its own (re-execs itself under unshare -n),
# and fails unless nft succeeds and the chain runs as BPF. Catches block plans the verifier refuses
# (the 3 000-rule mix: E2BIG at 21 433 insns; docs/codegen.md "Big chains").
#   load_long_ruleset.sh BINDIR [RULES]
set -u
BIN=$1; RULES=${2:-3000}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${NFBPF_LOAD_IN_NETNS:-}" ]; then
  NFBPF_LOAD_IN_NETNS=1 exec unshare -n "$0" "$@"
fi
D=$(mktemp -d /tmp/nfbpf-longload.XXXXXX)
P=
cleanup() { [ -n "$P" ] && kill "$P" 2>/dev/null && wait "$P" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
ip link set lo up
python3 "$HERE/gen_long_ruleset.py" --rules "$RULES" -o "$D/long.nft" || exit 1
"$BIN/nfbpfd" --socket "$D/s" --offload=strict >"$D/log" 2>&1 &
P=$!
for _ in $(seq 100); do [ -S "$D/s" ] && break; sleep 0.1; done
t0=$(date +%s.%N)
NFBPF_SOCKET="$D/s" "$BIN/nfbpf-run" nft -f "$D/long.nft"; rc=$?
t1=$(date +%s.%N)
"$BIN/nfbpf" --socket "$D/s" status >"$D/status" 2>&1
echo "$RULES-rule mix: nft exit $rc in $(echo "$t1 - $t0" | bc) s"
grep -E "insns|refused" "$D/status" | cut -c1-300
if [ "$rc" != 0 ] || ! grep -q "attached: netfilter" "$D/status"; then
  echo "FAIL"; tail -5 "$D/log"; exit 1
fi
echo "OK"
