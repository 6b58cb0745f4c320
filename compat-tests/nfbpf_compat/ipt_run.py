"""Runs iptables cases on one engine: the kernel, or nfbpfd through nfbpf-run. All cases of one
(front end, family, file) run in one shell inside a fresh `unshare --net`, one after another:
`-A` the rule (exit status), `-save` the table, for iptables-nft also the raw NFT_MSG_GETRULE
dump (nft_rule_dump.py: byte identity, not only the listing), `-F` the chain. Dumps:
`-restore`, `-save`.

The xtables lock file is private to each shell (XTABLES_LOCKFILE), so parallel workers never
wait on each other. The nfbpf side ends by checking that the kernel's own tables in its namespace
stayed empty (nothing bypassed the shim)."""
from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

from .ipt_cases import IptCase

TIMEOUT_S = 900
DUMP_TOOL = shlex.quote(os.path.join(os.path.dirname(os.path.abspath(__file__)), "nft_rule_dump.py"))


def _script(cases: list[IptCase], nfbpf_build: str | None, raw_dump) -> str:
    lines = ["exec 2>&1", "export LC_ALL=C",
             "export XTABLES_LOCKFILE=$(mktemp /tmp/nfbpf-ipt-lock-XXXXXX)"]
    if nfbpf_build:
        b = shlex.quote(nfbpf_build)
        lines += ["S=$(mktemp -u /tmp/nfbpf-ipt-XXXXXX).sock",
                  f"{b}/bin/nfbpfd --socket $S --offload=none --log-level error & D=$!",
                  "i=0; while [ ! -S $S ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done",
                  "[ -S $S ] || echo '@@daemon-missing'",
                  f"export NFBPF_SOCKET=$S; R={b}/bin/nfbpf-run"]
    else:
        lines.append("R=")
    for n, c in enumerate(cases):
        t = shlex.quote(c.table)
        lines.append(f"echo '@@case {n}'")
        if c.kind == "rule":
            lines.append(f"$R {c.tool} -t {t} -A {shlex.quote(c.chain)} {c.rule} >/dev/null 2>&1; echo rc=$?")
            lines.append(f"$R {c.tool}-save -t {t} | grep -v '^#'")
            if c.frontend == "nft" and raw_dump(c):  # and the netlink bytes behind that listing
                lines.append(f"$R python3 {DUMP_TOOL} {10 if c.family == 'ip6' else 2}")
            lines.append(f"$R {c.tool} -t {t} -F {shlex.quote(c.chain)} >/dev/null 2>&1")
        else:
            # -c both ways: the dumps carry chain and rule counters, which must come back.
            lines.append(f"$R {c.tool}-restore -c < {shlex.quote(c.dump_path)} >/dev/null 2>&1; echo rc=$?")
            lines.append(f"$R {c.tool}-save -c | grep -v '^#'")
            # Back to an empty state for the next dump.
            for tbl in ("filter", "nat", "mangle", "raw", "security"):
                lines.append(f"$R {c.tool} -t {tbl} -F >/dev/null 2>&1; $R {c.tool} -t {tbl} -X >/dev/null 2>&1")
    if nfbpf_build:
        lines.append("echo \"@@kernel-state $(cat /proc/net/ip_tables_names /proc/net/ip6_tables_names | wc -l)"
                     " $(nft list ruleset 2>/dev/null | wc -l)\"")
        lines.append("kill -0 $D 2>/dev/null || echo '@@daemon-died'")
        lines.append("kill $D; wait $D; rm -f $S $S.lock")
    lines.append("rm -f $XTABLES_LOCKFILE")
    return "\n".join(lines) + "\n"


def _run_script(text: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(text)
    try:
        out = subprocess.run(["unshare", "--net", "sh", f.name], capture_output=True, text=True,
                             timeout=TIMEOUT_S).stdout
    finally:
        os.unlink(f.name)
    results: dict = {}
    cur = None
    for line in out.splitlines():
        if line.startswith("@@case "):
            cur = int(line.split()[1])
            results[cur] = []
        elif line in ("@@daemon-missing", "@@daemon-died"):
            results.setdefault("daemon", []).append(line[2:])
        elif line.startswith("@@kernel-state"):
            results["kernel-state"] = line.split()[1:]
        elif cur is not None:
            results[cur].append(line)
    return results


def run_engine(cases: list[IptCase], nfbpf_build: str | None, jobs: int,
               raw_dump=lambda c: True) -> tuple[dict, list[str]]:
    """{case id: {"rc": int|None, "out": [lines]}} and harness notes (bypasses, lost output)."""
    batches = [list(g) for _, g in itertools.groupby(cases, key=lambda c: (c.frontend, c.family, c.file))]
    results: dict = {}
    notes: list[str] = []

    def one(batch: list[IptCase]) -> None:
        r = _run_script(_script(batch, nfbpf_build, raw_dump))
        if r.get("daemon"):
            notes.append(f"{batch[0].group}/{batch[0].file}: nfbpfd {', '.join(r['daemon'])}")
        if nfbpf_build and r.get("kernel-state") != ["0", "0"]:
            notes.append(f"{batch[0].group}/{batch[0].file}: the kernel's own tables were touched "
                         f"({r.get('kernel-state')})")
        for n, c in enumerate(batch):
            lines = r.get(n)
            if lines is None:
                notes.append(f"{c.id}: no output")
                results[c.id] = {"rc": None, "out": []}
                continue
            rc = None
            if lines and lines[0].startswith("rc="):
                rc = int(lines[0][3:])
                lines = lines[1:]
            results[c.id] = {"rc": rc, "out": lines}

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        list(ex.map(one, batches))
    return results, notes
