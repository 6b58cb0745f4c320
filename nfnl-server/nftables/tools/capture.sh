#!/bin/bash
# Records real nft <-> kernel netlink traffic for a scenario, in a fresh network namespace.
# Usage: capture.sh SCENARIO.cmds OUT.cap   (SCENARIO: one nft argument line per line, '#' comments;
# a line starting with '!' is a shell command instead, e.g. '! iptables-nft-restore -c < FILE')
# Each line runs as its own nft process (its own port id), exactly as a user would type it.
# Needs root; never touches the root namespace's ruleset (everything runs under unshare -n).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
so=$(mktemp --suffix=.so)
trap 'rm -f "$so"' EXIT
cc -shared -fPIC -O2 -o "$so" "$here/nl_capture.c" -ldl
out=$(realpath -m "$2")
rm -f "$out"
unshare -n bash -c '
  so=$1; out=$2; cmds=$3
  while IFS= read -r line; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    if [[ "$line" == !* ]]; then  # "! shell command": another client (iptables-nft, ...)
      cmd=${line#!}; cmd=${cmd# }
      echo "# $cmd" >> "$out"
      NFBPF_CAPTURE="$out" LD_PRELOAD="$so" bash -c "$cmd" >/dev/null 2>&1 || true
      continue
    fi
    echo "# nft $line" >> "$out"
    eval "set -- $line"
    NFBPF_CAPTURE="$out" LD_PRELOAD="$so" nft "$@" >/dev/null 2>&1 || true
  done < "$cmds"
' _ "$so" "$out" "$1"
