#!/bin/bash
# End-to-end check of notifications: `nft monitor` output while SCENARIO.cmds runs, against the
# kernel and against nfbpfd (through nfbpf-run), each in a fresh network namespace; diffed.
# Usage (root, build-s2 with nfbpfd and nfbpf_shim built): monitor_vs_kernel.sh SCENARIO.cmds
cmds=$1
run() { # $1 = prefix for nft (empty for kernel)
  unshare -n bash -c '
    pre="$1"; cmds="$2"
    if [ -n "$pre" ]; then sock=/tmp/s2-mon.$$.sock; ${NFBPF_BUILD:-/work/main/build-s2}/bin/nfbpfd --socket $sock --offload=none --log-level error & dpid=$!; for i in $(seq 50); do [ -S $sock ] && break; sleep 0.05; done; export NFBPF_SOCKET=$sock; fi
    $pre nft monitor > /tmp/mon.out.$$ 2>&1 & mpid=$!
    sleep 0.5
    while IFS= read -r l; do [[ -z "$l" || "$l" == \#* ]] && continue; eval "set -- $l"; $pre nft "$@" >/dev/null 2>&1; done < "$cmds"
    sleep 0.5; kill $mpid; wait $mpid 2>/dev/null
    cat /tmp/mon.out.$$; rm -f /tmp/mon.out.$$
    if [ -n "$pre" ]; then kill $dpid; wait $dpid 2>/dev/null; rm -f $sock; fi
  ' _ "$1" "$cmds"
}
run "" > /tmp/mon.kernel
run "${NFBPF_BUILD:-/work/main/build-s2}/bin/nfbpf-run" > /tmp/mon.nfbpf
diff /tmp/mon.kernel /tmp/mon.nfbpf && echo IDENTICAL
