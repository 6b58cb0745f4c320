#!/bin/bash
# End-to-end check: runs each line of SCENARIO.cmds with nft against the kernel and against
# nfbpfd (through nfbpf-run), each side in its own fresh network namespace, and diffs the output.
# Usage (root, after building nfbpfd and nfbpf_shim in build-s2): e2e_vs_kernel.sh SCENARIO.cmds
cmds=$1
run_kernel() { unshare -n bash -c 'while IFS= read -r l; do [[ -z "$l" || "$l" == \#* ]] && continue; eval "set -- $l"; echo "### nft $l"; nft "$@" 2>&1; echo "rc=$?"; done < '"$cmds"; }
run_nfbpf() {
  unshare -n bash -c '
    sock=/tmp/s2-e2e.$$.sock
    ${NFBPF_BUILD:-/work/main/build-s2}/bin/nfbpfd --socket $sock --offload=none --log-level error & dpid=$!
    for i in $(seq 50); do [ -S $sock ] && break; sleep 0.05; done
    while IFS= read -r l; do [[ -z "$l" || "$l" == \#* ]] && continue; eval "set -- $l"; echo "### nft $l"; NFBPF_SOCKET=$sock ${NFBPF_BUILD:-/work/main/build-s2}/bin/nfbpf-run nft "$@" 2>&1; echo "rc=$?"; done < '"$cmds"'
    kill $dpid; wait $dpid 2>/dev/null; rm -f $sock'
}
run_kernel > /tmp/e2e.kernel
run_nfbpf > /tmp/e2e.nfbpf
diff /tmp/e2e.kernel /tmp/e2e.nfbpf && echo IDENTICAL
