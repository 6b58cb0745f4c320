#!/bin/sh
# iptables-nft rules carrying xt matches (length, ttl, comment) run: the same UDP datagrams over
# lo, once in a namespace with the kernel's nf_tables, once with nfbpfd --offload strict (the
# rules lowered through translate/ipt and run as BPF). Received/dropped per datagram and the
# rules' packet and byte counters must be identical. usage: ipt_nft_live.sh BUILD_DIR (root)
set -eu
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
steps='ip link set lo up
iptables-nft -A INPUT -m length --length 100:200 -j DROP
iptables-nft -A INPUT -m ttl --ttl-eq 64 -m comment --comment c
python3 '"$here"'/udp_probe.py
iptables-nft -L INPUT -v -n -x'
run() {  # $1: "" for the kernel, else nfbpf-run
  unshare --net sh -c '
    set -e
    if [ -n "$1" ]; then
      S=$(mktemp -u /tmp/nfbpf-live-XXXXXX).sock
      "$2"/bin/nfbpfd --socket $S --log-level error --offload strict & D=$!
      i=0; while [ ! -S $S ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
      export NFBPF_SOCKET=$S
    fi
    echo "$3" | while read -r l; do $1 sh -c "$l"; done
    if [ -n "$1" ]; then kill $D; wait $D || true; rm -f $S $S.lock; fi' sh "$1" "$build" "$steps"
}
kernel=$(run "" 2>&1)
ours=$(run "$build/bin/nfbpf-run" 2>&1)
echo "$kernel"
if [ "$kernel" != "$ours" ]; then
  echo "DIFFERENT through nfbpfd:"; echo "$ours"; exit 1
fi
echo "$ours" | grep -q "udp payload 120: dropped" || { echo "nothing was dropped"; exit 1; }
echo "identical"
