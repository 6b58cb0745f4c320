"""Command line: select cases, run them on the engines, compare, report, gate."""
from __future__ import annotations

import argparse
import collections
import datetime
import difflib
import json
import os
import platform
import subprocess
import sys

from . import cases as cases_mod
from . import compare as cmp
from . import normalize, orchestrator, report, summary

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))      # compat-tests/
REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "out")
DEFAULT_DOC = os.path.join(REPO, "docs", "compat.md")
GATE_FILE = os.path.join(HERE, "gate.json")
BASELINE_FILE = os.path.join(HERE, "baseline-identical.txt")


def _cmd_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def verdicts_for(doc: dict) -> list[cmp.Verdict]:
    res = doc["results"]
    kernel, nfbpf = res.get("kernel", {}), res.get("nfbpf")
    out = []
    for c in doc["cases"]:
        k = kernel.get(c["id"])
        if k is None:
            continue
        out.append(cmp.compare(c, k, nfbpf.get(c["id"]) if nfbpf is not None else None))
    return out


def evaluate(doc: dict, baseline_file: str = BASELINE_FILE
             ) -> tuple[list[cmp.Verdict], dict, summary.GateResult, dict]:
    verdicts = verdicts_for(doc)
    nfbpf_ran = "nfbpf" in doc["results"]
    stats = summary.group_stats(verdicts, nfbpf_ran)
    gate_conf = summary.load_gate(GATE_FILE)
    baseline = summary.load_baseline(baseline_file)
    return verdicts, stats, summary.apply_gate(verdicts, nfbpf_ran, gate_conf, baseline), gate_conf


def write_report(doc: dict, path: str) -> None:
    verdicts, stats, gate, conf = evaluate(doc)
    text = report.render(doc["meta"], verdicts, stats, gate, conf)
    # The verdict differential's section (run.sh --verdicts --write-report) survives a rewrite.
    from .verdicts_cli import BEGIN, END, HYBRID_BEGIN, HYBRID_END
    if os.path.exists(path):
        old = open(path, encoding="utf-8").read()
        for begin, end in ((BEGIN, END), (HYBRID_BEGIN, HYBRID_END)):  # strict, then hybrid
            if begin in old and end in old:
                text = text.rstrip("\n") + "\n\n" + begin + old.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
        # ... and so does the iptables section (run.sh --iptables --write-report).
        from .ipt_cli import BEGIN as IPT_BEGIN, END as IPT_END
        if IPT_BEGIN in old and IPT_END in old:
            text = (text.rstrip("\n") + "\n\n" + IPT_BEGIN + old.split(IPT_BEGIN, 1)[1].split(IPT_END, 1)[0]
                    + IPT_END + "\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def print_summary(stats: dict, gate: summary.GateResult, nfbpf_ran: bool,
                  top: list[tuple[str, int]]) -> None:
    head = f"{'group':28} {'cases':>6} {'k-acc':>6} {'k-ref':>6} {'=.t':>6}"
    if nfbpf_ran:
        head += f" {'ident':>6} {'diff':>6}"
    print(head)
    for g, s in stats.items():
        line = f"{g:28} {s.cases:6} {s.kernel_accepted:6} {s.kernel_refused:6} {s.expectation_agrees:6}"
        if nfbpf_ran:
            line += f" {s.identical:6} {s.nfbpf_run - s.identical:6}"
        print(line)
    if nfbpf_ran:
        cats = stats["total"].categories
        print("differences:", ", ".join(f"{c}: {cats[c]}" for c in cmp.CATEGORIES if cats[c]) or "none")
        if top:
            print("most common first differences:")
            for sig, n in top:
                print(f"  {n:5}  {sig[:160]}")
        print("gate:", "PASS" if gate.passed else "FAIL: " + "; ".join(gate.failures))
    else:
        print("gate: not applied (nfbpf engine not run)")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="compat-tests/run.sh",
                                 description="Differential tests: real nft vs the kernel and vs nfbpfd.")
    ap.add_argument("--ci", action="store_true",
                    help=f"quick subset: all shell dumps, monitor and command scripts, 1 in "
                         f"{cases_mod.CI_SAMPLE_MOD} tests-py cases (deterministic)")
    ap.add_argument("--filter", action="append", metavar="PATTERN",
                    help="only case ids containing PATTERN or matching it as a glob (repeatable)")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="workers (namespaces) per engine")
    ap.add_argument("--engines", help="comma list of kernel,nfbpf (default: kernel, plus nfbpf when built); "
                         "kernel,kernel-as-nfbpf is a self-check that must show no difference")
    ap.add_argument("--nfbpf-build", help="build dir holding bin/nfbpfd, bin/nfbpf-run, lib/libnfbpf-shim.so")
    ap.add_argument("--nfbpfd-arg", action="append", default=[], help="extra argument for nfbpfd")
    ap.add_argument("--offload", choices=["none", "strict", "hybrid"], default="none",
                    help="nfbpfd's --offload mode (default none: store and list only; hybrid also "
                         "programs the kernel's nf_tables with what BPF cannot run, and the harness "
                         "then checks that nfbpfd's flush leaves the kernel's ruleset empty)")
    ap.add_argument("--suite-root", default=cases_mod.SUITE_ROOT)
    ap.add_argument("--out", default=DEFAULT_OUT, help="directory for results.json and worker logs")
    ap.add_argument("--write-report", nargs="?", const=DEFAULT_DOC, metavar="PATH",
                    help=f"write the markdown report (default path {DEFAULT_DOC})")
    ap.add_argument("--list", action="store_true", help="print the selected case ids and exit")
    ap.add_argument("--no-gate", action="store_true", help="always exit 0 after a complete run")
    ap.add_argument("--baseline", default=BASELINE_FILE, metavar="PATH",
                    help="identical-case baseline for the regression gate (used when it exists)")
    ap.add_argument("--update-baseline", action="store_true",
                    help="record this run's identical cases in the baseline "
                         "(cases that did not run keep their entry)")
    ap.add_argument("--expect-identical", action="store_true",
                    help="exit 1 on any difference at all (for the kernel,kernel-as-nfbpf self-check)")
    return ap.parse_args(argv)


def _daemon_args(args: argparse.Namespace) -> list[str]:
    """--offload MODE for nfbpfd unless an --nfbpfd-arg already chose one."""
    chosen = any(a.startswith("--offload") for a in args.nfbpfd_arg)
    return args.nfbpfd_arg if chosen else [f"--offload={args.offload}", *args.nfbpfd_arg]


def _run(args: argparse.Namespace, selected: list[dict]) -> dict:
    """Runs the selected cases on every engine; returns the results document (also saved)."""
    nfbpf = orchestrator.find_nfbpf(REPO, args.nfbpf_build)
    engines = args.engines.split(",") if args.engines else ["kernel"] + (["nfbpf"] if nfbpf else [])
    if engines[0] != "kernel":
        raise SystemExit("--engines must start with kernel: it is the oracle")
    os.makedirs(args.out, exist_ok=True)
    specs = orchestrator.engine_specs(engines, nfbpf, args.out, _daemon_args(args))
    print(f"compat-tests: {len(selected)} cases, engines {engines}"
          + (f" (nfbpf from {nfbpf.build_dir})" if "nfbpf" in engines else ""), file=sys.stderr)
    results, timings = orchestrator.run_all(specs, selected, args.jobs, args.out)
    for e, t in timings.items():
        print(f"{e}: {len(results[e])} cases in {t:.1f} s", file=sys.stderr)
    doc = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "mode": "ci" if args.ci else "full", "filters": args.filter or [],
                    "jobs": args.jobs, "engines": [s.name for s in specs],
                    "engines_requested": engines, "timings": timings,
                    "suite_root": args.suite_root,
                    "nft_version": _cmd_output(["unshare", "--net", "nft", "--version"]),
                    "kernel": platform.release(),
                    "nfbpf_build": nfbpf.build_dir if nfbpf and "nfbpf" in engines else None,
                    "offload": args.offload,
                    "git_rev": _cmd_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])},
           "cases": selected, "results": results}
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return doc


def _exit_status(args: argparse.Namespace, doc: dict, verdicts: list[cmp.Verdict],
                 gate: summary.GateResult) -> int:
    """0 pass, 1 gate failed (or a difference under --expect-identical), 3 harness problem."""
    results = doc["results"]
    missing = [e for e, r in results.items() if len(r) != len(doc["cases"])]
    harness_errors = sum(cmp.HARNESS in v.categories for v in verdicts) + sum(
        1 for r in results["kernel"].values() if r["notes"])
    if missing or harness_errors:
        print(f"harness problem: missing results for {missing}, {harness_errors} harness errors",
              file=sys.stderr)
        return 3
    if args.expect_identical:
        differing = [v.id for v in verdicts if not v.identical]
        if differing:
            print(f"expected no difference, got {len(differing)}: {differing[:10]}", file=sys.stderr)
        return 1 if differing else 0
    return 0 if (gate.passed or args.no_gate) else 1


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    selected = cases_mod.select(cases_mod.all_cases(args.suite_root), args.filter, args.ci)
    if args.list:
        print("\n".join(c["id"] for c in selected))
        return 0
    if not selected:
        print("no case selected", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("compat-tests need root (network namespaces)", file=sys.stderr)
        return 2
    doc = _run(args, selected)
    verdicts, stats, gate, _conf = evaluate(doc, args.baseline)
    top = collections.Counter(v.signature for v in verdicts if not v.identical).most_common(10)
    print_summary(stats, gate, "nfbpf" in doc["results"], top)
    if args.write_report:
        write_report(doc, args.write_report)
        print(f"report written to {args.write_report}", file=sys.stderr)
    if args.update_baseline:
        if "nfbpf" not in doc["results"] or doc["meta"]["nfbpf_build"] is None:
            raise SystemExit("--update-baseline needs a run of the real nfbpf engine")
        ids = summary.updated_baseline(summary.load_baseline(args.baseline), verdicts)
        with open(args.baseline, "w", encoding="utf-8") as f:
            f.write("# Cases identical between the kernel and nfbpfd (compat-tests/run.sh "
                    "--update-baseline); the gate fails when one of them differs.\n")
            f.write("".join(i + "\n" for i in ids))
        print(f"baseline: {len(ids)} identical cases in {args.baseline}", file=sys.stderr)
    return _exit_status(args, doc, verdicts, gate)


def _readable(text: str) -> str:
    """One JSON document per line (`-j` listings, `-j monitor`) indented, so diffs show the spot."""
    out = []
    for line in text.split("\n"):
        try:
            out.append(json.dumps(json.loads(line), indent=1) if line.startswith("{") else line)
        except ValueError:
            out.append(line)
    return "\n".join(out)


def show_case(doc: dict, pattern: str) -> int:
    """Prints, for each differing case matching `pattern`, every step whose outcome differs, as unified
    diffs of the normalised outputs (what a developer chasing a difference wants to see)."""
    shown = 0
    for case in doc["cases"]:
        if pattern not in case["id"]:
            continue
        k = doc["results"]["kernel"].get(case["id"])
        n = doc["results"].get("nfbpf", {}).get(case["id"])
        if k is None or n is None or cmp.compare(case, k, n).identical:
            continue
        shown += 1
        print(f"=== {case['id']}  notes: kernel {k['notes']} nfbpf {n['notes']}")
        for ks, ns in cmp.pair_steps(k["steps"], n["steps"]):
            if ns is None:
                print(f"--- step {ks['name']!r}: not run on nfbpf")
                continue
            parts = []
            if ks["rc"] != ns["rc"]:
                parts.append(f"exit status: kernel {ks['rc']} nfbpf {ns['rc']}\n")
            for field in ("stderr", "stdout"):
                a, b = ks[field], ns[field]
                if field == "stdout":
                    a = _readable(normalize.normalize_stdout(ks["name"], ks["cmd"], a))
                    b = _readable(normalize.normalize_stdout(ns["name"], ns["cmd"], b))
                if a != b:
                    parts += difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                                  f"kernel {field}", f"nfbpf {field}")
            if parts:
                print(f"--- step {ks['name']!r} ({ks['cmd']})")
                print("".join(p if p.endswith("\n") else p + "\n" for p in parts), end="")
    if not shown:
        print(f"no differing case matches {pattern!r}", file=sys.stderr)
        return 1
    return 0


def report_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="compat-tests/report.py",
                                 description="Regenerate docs/compat.md from a saved results file, "
                                             "or show one case's differences.")
    ap.add_argument("--results", default=os.path.join(DEFAULT_OUT, "results.json"))
    ap.add_argument("--output", default=DEFAULT_DOC)
    ap.add_argument("--show", metavar="ID",
                    help="print the differing steps of every case whose id contains ID, as diffs")
    args = ap.parse_args(argv)
    with open(args.results, encoding="utf-8") as f:
        doc = json.load(f)
    if args.show:
        return show_case(doc, args.show)
    write_report(doc, args.output)
    print(f"wrote {args.output}")
    return 0
