#!/usr/bin/env bash
# The demo proper (scripts/demo.sh builds first): nfbpfd --offload=strict serves a scratch network
# namespace; the unmodified nft loads scripts/demo/ruleset.nft through nfbpf-run; a second scratch
# namespace sends UDP over a veth pair; the receiver's counts, `nft list ruleset` (counters read
# back from the BPF maps) and `nfbpf status` are shown. The kernel's own nf_tables in that namespace
# stays empty. Both namespaces and the daemon (killed by PID) are removed on exit.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$build/bin" && pwd)
fw=nfbpf-demo-$$-fw
tx=nfbpf-demo-$$-tx
work=$(mktemp -d /tmp/nfbpf-demo.XXXXXX)
daemon=

cleanup() {
  set +e
  # `ip netns exec` forks: the daemon's own PID comes from the pid file its shell wrote.
  if [ -s "$work/nfbpfd.pid" ]; then
    kill "$(cat "$work/nfbpfd.pid")" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$(cat "$work/nfbpfd.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -n "$daemon" ] && wait "$daemon" 2>/dev/null
  ip netns del "$fw" 2>/dev/null || true
  ip netns del "$tx" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

in_fw() { ip netns exec "$fw" "$@"; }
in_tx() { ip netns exec "$tx" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

ip netns add "$fw"
ip netns add "$tx"
ip link add demo-fw netns "$fw" type veth peer name demo-tx netns "$tx"
in_fw ip addr add 10.77.0.1/24 dev demo-fw
in_tx ip addr add 10.77.0.2/24 dev demo-tx
in_tx ip addr add 10.77.0.66/24 dev demo-tx    # a source address the ruleset blocks
for ns in "$fw" "$tx"; do ip -n "$ns" link set lo up; done
in_fw ip link set demo-fw up
in_tx ip link set demo-tx up

say "nfbpfd --offload=strict in namespace $fw"
in_fw sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$work/nfbpfd.pid" \
  "$bin/nfbpfd" --socket "$work/nfbpf.sock" --offload=strict --log-level warn &
daemon=$!
for _ in $(seq 100); do [ -S "$work/nfbpf.sock" ] && break; sleep 0.05; done
export NFBPF_SOCKET=$work/nfbpf.sock

say "nft -f scripts/demo/ruleset.nft (the unmodified nft, through nfbpf-run)"
in_fw "$bin/nfbpf-run" nft -f "$here/ruleset.nft"
echo "loaded"

say "traffic: 20 datagrams to each of ports 9, 53, 7001, 8080 from 10.77.0.2, 20 to 7001 from 10.77.0.66"
in_fw python3 "$here/traffic.py" recv 3 9 53 7001 8080 >"$work/received" &
receiver=$!
for _ in $(seq 100); do grep -q ready "$work/received" 2>/dev/null && break; sleep 0.05; done
in_tx python3 "$here/traffic.py" send 10.77.0.1 20 10.77.0.2:9 10.77.0.2:53 10.77.0.2:7001 10.77.0.2:8080 10.77.0.66:7001
wait "$receiver"
received=$(tail -n1 "$work/received")
expected="9:0 53:20 7001:20 8080:0"
echo "received per port: $received   (expected $expected)"

say "nft list ruleset (through nfbpfd: counters read from the BPF maps)"
in_fw "$bin/nfbpf-run" nft list ruleset

say "nfbpf status"
"$bin/nfbpf" --socket "$work/nfbpf.sock" status

say "the kernel's own nf_tables in that namespace (nft without nfbpf-run): empty"
in_fw nft list ruleset
echo "(end of kernel listing)"

# The demo doubles as an end-to-end test (CTest demo_end_to_end): fail if BPF did not filter.
if [ "$received" != "$expected" ]; then
  echo "demo FAILED: received $received, expected $expected" >&2
  exit 1
fi
