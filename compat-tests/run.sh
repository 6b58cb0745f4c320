#!/usr/bin/env bash
# Differential compat tests: the real nft against the kernel and, when nfbpfd/nfbpf-run/the shim are
# built, against nfbpfd. Every nft runs inside a private network namespace (unshare --net) that a
# worker owns; nothing touches the namespace this script runs in.
#   compat-tests/run.sh --ci            quick meaningful subset (what scripts/test.sh runs)
#   compat-tests/run.sh -j2             everything; add --write-report to refresh docs/compat.md
#   compat-tests/run.sh --filter ip/meta.t --engines kernel
# Exit: 0 pass, 1 gate failed (see compat-tests/gate.json), 2 usage, 3 harness problem.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PYTHONDONTWRITEBYTECODE=1
if [ "${1:-}" = --iptables ]; then   # iptables-legacy / iptables-nft, see nfbpf_compat/ipt_cli.py
  shift
  PYTHONPATH="$here" exec python3 -m nfbpf_compat.ipt_cli "$@"
fi
if [ "${1:-}" = --verdicts ]; then   # the verdict differential (packets), see nfbpf_compat/verdicts.py
  shift
  PYTHONPATH="$here" exec python3 -m nfbpf_compat.verdicts_cli "$@"
fi
exec python3 "$here/compat.py" "$@"
