"""`run.sh --iptables --verdicts`: the verdict differential for iptables-legacy's filter table.

It runs on `nfbpf verify --batch` (verdict_batch.Batch; nfnl-server/cli/verify/experiment.h), the
testbed of `nfbpf verify` in its forward path:

    sender S ── k0 ═ p1 ── receiver K   (the kernel's x_tables run the rule)
             └─ n0 ═ p1 ── receiver N   (iptables-legacy via nfbpf-run; nfbpfd --offload=strict runs
                                         the filter table as BPF)

Frames arriving on p1 are routed out of another device (fwd0), so every one the IP stack accepts
crosses FORWARD. Each distinct (family, rule) of the extension .t lines whose table is filter
becomes one experiment (experiment_request): the rule is appended to FORWARD (whatever chain its .t
block named: cases that differ only in their chain share one experiment), then a bare `-A FORWARD`
that counts what fell through. An nft table beside it (loaded through nfbpf-run on N, so nfbpfd
runs it too) holds the sentinel rules and an arrival counter at prerouting -150, and a counter at
forward 150 (packets the filter table let through). The probes are made by the batch from the
kernel side's filter table (read with GET_ENTRIES, lowered by translate/ipt, eval::rule_probes on
every rule), plus its generic packets. Compared: every counter of `iptables-legacy-save -c`
(rules and policies) and of the nft table, as deltas over the experiment. Between experiments the
batch empties both sides' nft ruleset and every x_tables table (Sides::flush).
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import subprocess
import sys
import time

from . import ipt_cases
from . import verdict_batch
from . import verdicts as vd
from .orchestrator import find_nfbpf

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(HERE)
SENT_TABLE = "__ipt_verdicts"
SENT_V4, SENT_V6, ARRIVAL, PASSED = (f"inet {SENT_TABLE} vhead#0.0", f"inet {SENT_TABLE} vhead#1.0",
                                     f"inet {SENT_TABLE} vhead#2.0", f"inet {SENT_TABLE} vtail#0.0")


def sentinel_ruleset() -> str:
    t = f"inet {SENT_TABLE}"
    return "\n".join([
        f"add table {t}",
        f"add chain {t} vhead {{ type filter hook prerouting priority -150; }}",
        f"add chain {t} vtail {{ type filter hook forward priority 150; }}",
        f"add rule {t} vhead ip saddr {vd.SENTINEL4[0]} ip daddr {vd.SENTINEL4[1]} udp dport 9 counter drop",
        f"add rule {t} vhead ip6 saddr {vd.SENTINEL6[0]} ip6 daddr {vd.SENTINEL6[1]} udp dport 9 counter drop",
        f"add rule {t} vhead counter",
        f"add rule {t} vtail counter"]) + "\n"


# Not compared: the sentinels (moved by design), and the INPUT/OUTPUT policies, which also count
# the receivers' own IPv6 housekeeping on p1 (DAD, router solicitations, MLD) at their own times.
IGNORED = (SENT_V4, SENT_V6, "policy INPUT", "policy OUTPUT")


def experiment_request(family: str, rule: str, max_elems: int, offload: str) -> dict:
    """The batch request of one experiment (nfnl-server/cli/verify/experiment.h): the sentinel table,
    the rule appended to FORWARD with its own shell quoting (as the .t harness runs it), a bare
    `-A FORWARD` counting what fell through; probes from the kernel side's filter table; counters
    of the nft sentinel table and of `TOOL-save -c -t filter` (keys "CHAIN#i", "policy CHAIN")."""
    tool = "ip6tables-legacy" if family == "ip6" else "iptables-legacy"
    v6 = family == "ip6"
    req = {"kind": "experiment", "path": "forward",
           "load": [{"stage": "setup", "stdin": sentinel_ruleset()},
                    {"stage": "rule", "program": "sh", "args": ["-c", f"exec {tool} -t filter -A FORWARD {rule}"]},
                    {"stage": "setup", "program": tool, "args": ["-t", "filter", "-A", "FORWARD"]}],
           "xt_probes": [family, "filter"], "counters": "ruleset", "xt_counters": [tool, "filter"],
           "ignore": list(IGNORED), "sentinel": "ipv6" if v6 else "ipv4", "sentinel_key": SENT_V6 if v6 else SENT_V4,
           "arrival_key": ARRIVAL, "max_set_elements": max_elems}
    if offload == "hybrid":   # BPF, or the kernel's x_tables of N when BPF cannot run the rule
        req["legacy_placement"] = [family, "filter"]
    return req


def run_experiment(b, family: str, rule: str, max_elems: int) -> dict:
    res: dict = {"rule": rule}
    r = b.request(experiment_request(family, rule, max_elems, b.offload))
    st = r.get("status")
    if st == "error":
        return dict(res, status="harness-error", detail=r.get("error", "")[:300])
    res["status"] = st
    if "placement" in r:
        res["placed"] = r["placement"]
    if "generic_only" in r:   # the probes lower the rule, which is what BPF refused (hybrid, kernel-placed)
        res["probe_note"] = "generic packets only: " + r["generic_only"]
    for k in ("detail", "rule_probes", "probes", "kernel", "nfbpf", "differing_probes"):
        if k in r:
            res[k] = r[k]
    if st == "refused":
        res["detail"] = res.get("detail", "")[:400]
    if st in ("equal", "mismatch"):
        dk = r.get("kernel", {})
        res["arrived"] = r.get("arrived", 0)
        res["rule_matched"] = dk.get("FORWARD#0", [0])[0]
    return res


# ---- the command line -------------------------------------------------------------------------

def cases(filters: list[str] | None) -> list[ipt_cases.IptCase]:
    out = [c for c in ipt_cases.all_cases(frontends=("legacy",)) if c.kind == "rule" and c.table == "filter"]
    return ipt_cases.select(out, filters, False)


def blur(reason: str) -> str:
    r = re.sub(r" ?\(entry \d+[^)]*\)", "", reason)
    r = re.sub(r"\b\d+\b", "#", r)
    r = re.sub(r" \(while .*$", "", r)
    r = re.sub(r" \[EOPNOTSUPP\]$", "", r)
    return r[:160]


def render(doc: dict) -> str:
    ex = doc["experiments"]
    rows: dict = collections.OrderedDict()
    reasons: collections.Counter = collections.Counter()
    for c in doc["cases"]:
        e = ex[c["experiment"]]
        g = rows.setdefault(c["group"], collections.Counter())
        g["cases"] += 1
        st = e["status"]
        if st == "kernel-refused":
            g["kernel-refused"] += 1
            continue
        g["kernel-accepted"] += 1
        if st == "refused":
            g["refused"] += 1
            reasons[(c["group"], blur(e.get("detail", "")))] += 1
            continue
        g["offloaded" if st in ("equal", "mismatch") else st] += 1
        g[st] += 1
        if st in ("equal", "mismatch") and e.get("rule_matched"):
            g["matched"] += 1
        g["probes"] += e.get("probes", 0)
    m = doc["meta"]
    out = ["## iptables-legacy verdicts: the same packets through the kernel's filter table and nfbpfd's "
           "(`run.sh --iptables --verdicts`)", "",
           f"Generated {m['when']} ({m['wall_s']} s); raw results: `compat-tests/out/ipt-verdicts.json`. "
           "How it works: `compat-tests/nfbpf_compat/ipt_verdicts.py`. Each distinct rule of the extension .t "
           "lines whose table is filter runs in FORWARD (both receivers forward); \"rule matched\" counts "
           "experiments where at least one packet matched the rule in the kernel.", "",
           "| group | cases | kernel accepts (in FORWARD) | offloaded | verdict-equal | mismatch | rule matched | "
           "no probes | refused | packets sent (per side) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tot: collections.Counter = collections.Counter()
    for g, r in rows.items():
        tot.update(r)
        out.append(f"| {g} | {r['cases']} | {r['kernel-accepted']} | {r['offloaded']} | {r['equal']} | "
                   f"{r['mismatch']} | {r['matched']} | {r['no-probes']} | {r['refused']} | {r['probes']} |")
    out.append(f"| **total** | {tot['cases']} | {tot['kernel-accepted']} | {tot['offloaded']} | {tot['equal']} | "
               f"{tot['mismatch']} | {tot['matched']} | {tot['no-probes']} | {tot['refused']} | {tot['probes']} |")
    placed = collections.Counter(e.get("placed", "") for e in ex.values() if e["status"] in ("equal", "mismatch"))
    if m.get("offload") == "hybrid":
        out += ["", f"nfbpfd --offload=hybrid: of the compared experiments, {placed['bpf']} ran as BPF and "
                    f"{placed['kernel']} in N's own x_tables (BPF refused a rule); {placed['']} unknown."]
    out += ["", f"Distinct experiments: {len(ex)}; kernel refused in FORWARD: {tot['kernel-refused']} case(s); "
                f"harness errors: {tot['harness-error']}; daemon deaths: {tot['daemon-died']}.", "",
            "### Refused by nfbpfd --offload=strict (cases, reason, numbers blurred)", "",
            "| group | cases | reason |", "|---|---:|---|"]
    for (g, r), n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"| {g} | {n} | {r.replace('|', chr(92) + '|')} |")
    out += ["", "### Mismatches", ""]
    mism = [e for e in ex.values() if e["status"] == "mismatch"]
    if not mism:
        out.append("None.")
    for e in mism:
        out.append(f"- `{e['first_case']}`: `{e['rule']}`")
        for p in e.get("differing_probes", [])[:3]:
            out.append(f"  - probe «{p.get('probe')}» frame `{p.get('frame', '')[:160]}`: "
                       f"kernel {json.dumps(p.get('kernel'))} / nfbpf {json.dumps(p.get('nfbpf'))}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh --iptables --verdicts")
    ap.add_argument("--filter", action="append", help="case id substring (repeatable), e.g. libxt_tcp.t")
    ap.add_argument("--nfbpf-build", help="build dir holding bin/nfbpf, bin/nfbpfd, bin/nfbpf-run, lib/libnfbpf-shim.so")
    ap.add_argument("--max-set-elements", type=int, default=16)
    ap.add_argument("--limit", type=int, default=0, help="stop after this many experiments")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--expect-no-mismatch", action="store_true", help="exit 1 on any mismatch or harness error")
    ap.add_argument("-j", type=int, default=1, help="accepted for symmetry with the listing run; one testbed")
    ap.add_argument("--offload", choices=("strict", "hybrid"), default="strict",
                    help="nfbpfd's mode; hybrid runs what BPF refuses in N's own x_tables (compared too). "
                         "A filter table placed in the kernel stays there (no BPF link can join its "
                         "priority), so the testbed is rebuilt after each such experiment")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    bins = find_nfbpf(REPO, args.nfbpf_build)
    build = os.path.dirname(os.path.dirname(bins.nfbpfd)) if bins else None
    nfbpf = os.path.join(build, "bin", "nfbpf") if build else None
    if bins is None or not os.access(nfbpf, os.X_OK):
        print("needs nfbpfd/nfbpf-run/shim and nfbpf (verify --batch) built", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, "ipt-verdicts-nfbpfd.log")
    open(log, "w").close()
    b = verdict_batch.Batch(build, log, offload=args.offload)
    experiments: dict[str, dict] = {}
    per_case: dict[str, str] = {}
    t0 = time.monotonic()
    try:
        b.open()
        for c in cases(args.filter):
            key = json.dumps([c.family, c.rule])
            if key not in experiments:
                if args.limit and len(experiments) >= args.limit:
                    break
                try:
                    r = run_experiment(b, c.family, c.rule, args.max_set_elements)
                except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                    r = {"rule": c.rule, "status": "harness-error", "detail": f"{type(e).__name__}: {e}"[:300]}
                r["first_case"] = c.id
                experiments[key] = r
                # A fresh testbed after a harness error (the batch may be gone) and after a table
                # placed in N's kernel (hybrid), so the next rule can run as BPF again.
                if r["status"] == "harness-error" or r.get("placed") == "kernel":
                    b.close()
                    b = verdict_batch.Batch(build, log, offload=args.offload)
                    b.open()
                if r["status"] == "mismatch":
                    print(f"MISMATCH {c.id}: {c.rule}", flush=True)
                if len(experiments) % 50 == 0:
                    print(f"... {len(experiments)} experiments, {time.monotonic() - t0:.0f} s", flush=True)
            per_case[c.id] = key
    finally:
        b.close()
    doc = {"meta": {"when": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
                    "wall_s": round(time.monotonic() - t0, 1), "nfbpfd": bins.nfbpfd, "engine": nfbpf + " verify --batch",
                    "offload": args.offload},
           "cases": [{"id": cid, "group": cid.split(":")[0].rsplit("/", 1)[0], "experiment": k}
                     for cid, k in per_case.items()],
           "experiments": experiments}
    with open(os.path.join(args.out, "ipt-verdicts.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    print(render(doc))
    bad = sum(1 for e in experiments.values() if e["status"] in ("mismatch", "harness-error", "daemon-died"))
    return 1 if (args.expect_no_mismatch and bad) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
