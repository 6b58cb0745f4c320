"""compat-tests/run.sh --iptables: iptables 1.8.9's extension .t lines and save dumps through
iptables-legacy/ip6tables-legacy and iptables-nft/ip6tables-nft, against the kernel and against
nfbpfd (see ipt_cases.py, ipt_run.py). A case is identical when the exit status and the table's
`-save` output are the same (for iptables-nft also the raw rule dump bytes). The goal (gate): >= 98% of the kernel-accepted lines identical."""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import sys
import time

from . import ipt_cases
from .orchestrator import find_nfbpf

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(HERE)
BEGIN = "<!-- iptables-compat:begin -->"
END = "<!-- iptables-compat:end -->"


def compare(cases, kernel: dict, nfbpf: dict) -> list[dict]:
    rows = []
    for c in cases:
        k, n = kernel.get(c.id), nfbpf.get(c.id)
        same = k is not None and n is not None and k["rc"] is not None and k == n
        rows.append({"id": c.id, "group": c.group, "file": c.file, "kind": c.kind,
                     "kernel_accepted": bool(k and k["rc"] == 0), "identical": same,
                     "kernel": k, "nfbpf": n})
    return rows


def stats(rows: list[dict], key) -> dict:
    out: dict = collections.OrderedDict()
    for r in rows:
        for g in (key(r), "total"):
            s = out.setdefault(g, collections.Counter())
            s["cases"] += 1
            s["identical"] += r["identical"]
            s["accepted"] += r["kernel_accepted"]
            s["accepted_identical"] += r["kernel_accepted"] and r["identical"]
    out["total"] = out.pop("total")
    return out


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.1f}%" if b else "-"


def table(st: dict, title: str) -> list[str]:
    lines = [f"| {title} | cases | identical | kernel-accepted | identical of accepted |",
             "|---|---:|---:|---:|---:|"]
    for g, s in st.items():
        lines.append(f"| {g} | {s['cases']} | {s['identical']} ({pct(s['identical'], s['cases'])}) "
                     f"| {s['accepted']} | {s['accepted_identical']} ({pct(s['accepted_identical'], s['accepted'])}) |")
    return lines


def render(meta: dict, rows: list[dict]) -> str:
    by_group = stats(rows, lambda r: r["group"])
    by_file = stats(rows, lambda r: r["file"])
    diffs = [r for r in rows if not r["identical"]]
    out = [BEGIN, "## iptables (legacy and nft front ends)", "",
           f"`compat-tests/run.sh --iptables` on {meta['date']} (git {meta['git_rev']}, mode "
           f"{meta['mode']}): every rule line of iptables 1.8.9's extension `.t` files on each of its "
           "chains, and every save dump through `-restore` then `-save`, run with the kernel and "
           "with nfbpfd (through nfbpf-run), each in a fresh network namespace. Identical = same "
           "exit status and same `-save` output of the table (iptables-nft: and the same raw "
           "NFT_MSG_GETRULE dump bytes, generation masked).", ""]
    out += table(by_group, "front end / family") + [""]
    out += ["<details><summary>per file</summary>", ""] + table(by_file, "file") + ["", "</details>", ""]
    if diffs:
        out += [f"Differences ({len(diffs)}):", ""]
        for r in diffs[:200]:
            k, n = r["kernel"] or {}, r["nfbpf"] or {}
            out.append(f"- `{r['id']}`: kernel rc {k.get('rc')}, nfbpf rc {n.get('rc')}")
    out += [END]
    return "\n".join(out) + "\n"


def write_report(text: str, path: str) -> None:
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        new = old.split(BEGIN, 1)[0] + text.rstrip("\n") + old.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--verdicts" in argv:  # packets instead of listings: see ipt_verdicts.py
        from . import ipt_verdicts
        return ipt_verdicts.main([a for a in argv if a != "--verdicts"])
    ap = argparse.ArgumentParser(prog="compat-tests/run.sh --iptables", description=__doc__)
    ap.add_argument("--ci", action="store_true", help=f"only {', '.join(ipt_cases.CI_FILES)}")
    ap.add_argument("--filter", action="append", metavar="TEXT", help="case ids containing TEXT (repeatable)")
    ap.add_argument("--frontends", default="legacy,nft", help="comma list of legacy,nft")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="namespaces in parallel per engine")
    ap.add_argument("--nfbpf-build", help="build dir with bin/nfbpfd, bin/nfbpf-run, lib/libnfbpf-shim.so")
    ap.add_argument("--suite-root", default=ipt_cases.SUITE_ROOT)
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="directory for ipt-results.json")
    ap.add_argument("--write-report", nargs="?", const=os.path.join(REPO, "docs", "compat.md"), metavar="PATH")
    ap.add_argument("--show", type=int, default=20, help="print this many differences in full")
    ap.add_argument("--min-identical-accepted", type=float, default=98.0,
                    help="gate: percent of kernel-accepted lines that must be identical")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)

    cases = ipt_cases.select(ipt_cases.all_cases(args.suite_root, tuple(args.frontends.split(","))),
                             args.filter, args.ci)
    if args.list:
        print("\n".join(c.id for c in cases))
        return 0
    if not cases:
        print("no case selected", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("compat-tests need root (network namespaces)", file=sys.stderr)
        return 2
    nfbpf = find_nfbpf(REPO, args.nfbpf_build)
    if not nfbpf:
        print("no nfbpf build found (--nfbpf-build)", file=sys.stderr)
        return 2
    build = os.path.dirname(os.path.dirname(nfbpf.nfbpfd))
    from .ipt_run import run_engine
    print(f"iptables compat: {len(cases)} cases, nfbpf from {build}", file=sys.stderr)
    t0 = time.time()
    raw = (lambda c: c.file in ipt_cases.CI_RAW_DUMP_FILES) if args.ci else (lambda c: True)
    kernel, knotes = run_engine(cases, None, args.jobs, raw)
    t1 = time.time()
    ours, nnotes = run_engine(cases, build, args.jobs, raw)
    t2 = time.time()
    print(f"kernel {t1 - t0:.0f} s, nfbpf {t2 - t1:.0f} s", file=sys.stderr)
    rows = compare(cases, kernel, ours)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "ci" if args.ci else ("filtered" if args.filter else "full"),
            "git_rev": os.popen(f"git -C {REPO} rev-parse --short HEAD").read().strip()}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "ipt-results.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "rows": rows, "notes": knotes + nnotes}, f)

    shown = 0
    for r in rows:
        if not r["identical"] and shown < args.show:
            shown += 1
            print(f"DIFF {r['id']}\n   kernel: {r['kernel']}\n   nfbpf:  {r['nfbpf']}")
    by_group = stats(rows, lambda r: r["group"])
    print("\n".join(table(by_group, "front end / family")))
    for n in knotes + nnotes:
        print("harness:", n)
    if args.write_report:
        write_report(render(meta, rows), args.write_report)
        print(f"report written to {args.write_report}", file=sys.stderr)
    tot = by_group["total"]
    rate = 100.0 * tot["accepted_identical"] / tot["accepted"] if tot["accepted"] else 100.0
    print(f"identical of kernel-accepted: {rate:.1f}% (gate {args.min_identical_accepted}%)")
    if knotes + nnotes:
        return 3
    return 0 if rate >= args.min_identical_accepted else 1


if __name__ == "__main__":
    sys.exit(main())
