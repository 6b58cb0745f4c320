#!/usr/bin/env python3
"""The long-chain differential: generated long rulesets (gen_long_ruleset.py) through `nfbpf verify`.

Each run loads one ruleset into the kernel and into a private nfbpfd (scratch namespaces: verify
touches nothing else) and must come back EQUAL: every packet handled alike and every rule's
counter equal, merged runs and pruned (shadowed) rules included. Fails (exit 1) on any mismatch,
differing counter, refusal or listing difference, and when the runs exercised too few rules to
mean anything.

  check_long_rulesets.py --nfbpf build/bin/nfbpf [--rules 600] [--run nft-strict] [--keep DIR]

Sizes are chosen to keep the whole check well under a minute on the 2-core CI machine; see
docs/migration.md "Long rulesets" for bigger runs and what they found.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen_long_ruleset.py")


def run_verify(nfbpf: str, path: str, extra: list[str], timeout: int) -> tuple[int, dict, float]:
    # --set-elements: probes for every element of the sets merge_runs builds (a run holds up to
    # 120 rules), so every merged rule's counter is exercised, not only the first 16 of a run.
    cmd = [nfbpf, "verify", path, "--json", "--set-elements", "256", "--max-named", "5", *extra]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    dt = time.monotonic() - t0
    try:
        report = json.loads(p.stdout)
    except json.JSONDecodeError:
        report = {"status": "unparsable", "stderr": p.stderr[-2000:]}
    return p.returncode, report, dt


def check(name: str, rc: int, r: dict, dt: float, strict: bool) -> list[str]:
    problems = []
    s = r.get("summary", {})
    line = (f"{name}: exit {rc}, {r.get('status')}, {s.get('rules')} rules, {s.get('offloaded')} accepted by nfbpfd, "
            f"{s.get('exercised')} exercised, {r.get('packets', {}).get('probes')} probes, {dt:.1f} s")
    print(line, flush=True)
    if rc != 0 or r.get("status") != "equal":
        problems.append(f"{name}: status {r.get('status')} exit {rc}: {r.get('error') or r.get('load_refusal') or ''}")
    if s.get("counters_differ", 1) != 0:
        problems.append(f"{name}: {s.get('counters_differ')} rules' counters differ")
        for row in r.get("rules", []):
            if not row.get("equal", True):
                problems.append(f"  {row['key']}: {row['text']}: kernel {row['kernel']} nfbpf {row['nfbpf']}")
    for m in r.get("mismatches", [])[:5]:
        problems.append(f"  MISMATCH {m.get('packet')}: kernel {m.get('kernel')} / nfbpf {m.get('nfbpf')}")
    rules = s.get("rules") or 0
    if strict and s.get("offloaded") != rules:
        problems.append(f"{name}: {rules - (s.get('offloaded') or 0)} rules refused in strict mode")
    # Shadowed rules and a regular chain's unreachable ones stay at 0 by design; most others match.
    if rules and (s.get("exercised") or 0) < rules // 2:
        problems.append(f"{name}: only {s.get('exercised')} of {rules} rules matched a packet")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nfbpf", required=True, help="the nfbpf binary (nfbpfd and nfbpf-run beside it)")
    ap.add_argument("--rules", type=int, default=600, help="base-chain rules per ruleset")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=120, help="per verify run, seconds")
    ap.add_argument("--keep", help="write the rulesets and reports here")
    ap.add_argument("--verify-arg", action="append", default=[],
                    help="pass this to nfbpf verify too (e.g. --verify-arg=--test-fault=flip-verdict:C)")
    ap.add_argument("--run", action="append", choices=("nft-strict", "nft-hybrid", "iptables-strict"),
                    help="only these runs (repeatable; default all three)")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="nfbpf-longchain-")
    os.makedirs(work, exist_ok=True)
    nft = os.path.join(work, "long.nft")
    ipt = os.path.join(work, "long.iptables")
    gen = [sys.executable, GEN, "--rules", str(args.rules), "--seed", str(args.seed)]
    subprocess.run(gen + ["--format", "nft", "-o", nft], check=True)
    subprocess.run(gen + ["--format", "iptables", "-o", ipt], check=True)
    runs = [("nft strict", nft, [], True), ("nft hybrid", nft, ["--offload", "hybrid"], False),
            ("iptables strict", ipt, [], True)]
    if args.run:
        runs = [r for r in runs if r[0].replace(" ", "-") in args.run]
    problems: list[str] = []
    for name, path, extra, strict in runs:
        try:
            rc, report, dt = run_verify(args.nfbpf, path, extra + args.verify_arg, args.timeout)
        except subprocess.TimeoutExpired:
            problems.append(f"{name}: nfbpf verify took over {args.timeout} s (a refusal makes verify retry "
                            "object by object: see nfbpfd's reason with --keep and nfbpf verify by hand)")
            continue
        if args.keep:
            with open(os.path.join(work, name.replace(" ", "-") + ".json"), "w") as f:
                json.dump(report, f, indent=1)
        problems += check(name, rc, report, dt, strict)
    if not args.keep:
        for p in (nft, ipt):
            os.unlink(p)
        os.rmdir(work)
    for p in problems:
        print(p)
    print("long rulesets: " + ("EQUAL" if not problems else "DIFFERENT or refused"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
