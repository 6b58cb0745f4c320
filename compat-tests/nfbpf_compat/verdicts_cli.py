"""`run.sh --verdicts`: the verdict differential over tests-py cases (see verdicts.py)."""
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

from . import cases as cases_mod
from . import orchestrator
from . import verdict_batch
from . import verdicts as vd

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(HERE)
DOC = os.path.join(REPO, "docs", "compat.md")
BEGIN, END = "<!-- verdicts:begin -->", "<!-- verdicts:end -->"
# A hybrid run (--offload hybrid) writes a section of its own, so the strict one stays beside it.
HYBRID_BEGIN, HYBRID_END = "<!-- verdicts-hybrid:begin -->", "<!-- verdicts-hybrid:end -->"


def markers(doc: dict) -> tuple[str, str]:
    return (HYBRID_BEGIN, HYBRID_END) if doc["meta"].get("offload") == "hybrid" else (BEGIN, END)


def blur(reason: str) -> str:
    r = re.sub(r" ?\(rule \d+ in chain [^)]*\)", "", reason)
    r = re.sub(r"\b\d+\b", "#", r)
    r = re.sub(r" \(while [^)]*\)", "", r)
    r = re.sub(r" \(while .*$", "", r)          # a cut-off context
    r = re.sub(r" \[EOPNOTSUPP\]$", "", r)
    return r[:160]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run.sh --verdicts")
    ap.add_argument("--filter", action="append", help="case id substring or glob (repeatable)")
    ap.add_argument("--nfbpf-build", help="build dir holding bin/nfbpfd, bin/nfbpf-run, lib/libnfbpf-shim.so")
    ap.add_argument("--max-set-elements", type=int, default=16)
    ap.add_argument("--no-dumps", action="store_true", help="tests-py cases only")
    ap.add_argument("--limit", type=int, default=0, help="stop after this many experiments")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--write-report", action="store_true", help="rewrite the verdict section of docs/compat.md")
    ap.add_argument("--expect-no-mismatch", action="store_true", help="exit 1 on any mismatch or harness error")
    ap.add_argument("--report-only", action="store_true", help="render OUT/verdicts.json again (no run)")
    ap.add_argument("--offload", default="strict", choices=["strict", "hybrid"],
                    help="nfbpfd's --offload mode (hybrid: each experiment records where its probe chain ran)")
    ap.add_argument("--replies", action="store_true",
                    help="receivers answer and forward; the frames they send back (a reject's ICMP error or "
                         "TCP reset, NAT'd packets forwarded with their rewritten addresses) are compared too "
                         "(replies.py; captured by nfbpf verify --batch in its replies path)")
    args = ap.parse_args(argv)
    if args.report_only:
        with open(os.path.join(args.out, "verdicts.json"), encoding="utf-8") as f:
            doc = json.load(f)
        text = render(doc)
        print(text)
        if args.write_report:
            write_section(DOC, text, *markers(doc))
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    bins = orchestrator.find_nfbpf(REPO, args.nfbpf_build)
    # `nfbpf verify --batch` comes from the same build as the daemon: its probes are made by the
    # same lowering the daemon runs, so mixing builds would test one IR with another's probes.
    build = os.path.dirname(os.path.dirname(bins.nfbpfd)) if bins else None
    gen = os.path.join(build, "bin", "nfbpf") if build else None
    if bins is None or not os.access(gen, os.X_OK):
        print("needs nfbpfd/nfbpf-run/shim and nfbpf (verify --batch) built", file=sys.stderr)
        return 2
    cases = cases_mod.select(cases_mod.tests_py_cases(cases_mod.SUITE_ROOT), args.filter, False)
    if not args.no_dumps:
        cases += cases_mod.select(cases_mod.dump_cases(cases_mod.SUITE_ROOT), args.filter, False)
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, "verdicts-nfbpfd.log")
    open(log, "w").close()
    # The experiments run on `nfbpf verify --batch` (one engine with `nfbpf verify`); with --replies
    # the batch's sides answer and forward, and it captures what comes back to the sender.
    tb = verdict_batch.Batch(build, log, args.offload, replies=args.replies)
    driver = verdict_batch
    experiments: dict[str, dict] = {}
    per_case: dict[str, str] = {}
    t0 = time.monotonic()
    try:
        tb.open()
        for c in cases:
            if c["kind"] == "dump":
                key, rule = "dump:" + c["file"], c["id"]
                run = lambda: driver.run_dump(tb, c["file"], args.max_set_elements)
            else:
                family, table, key, cmds, rule = vd.case_ruleset(c)
                run = lambda: driver.run_experiment(tb, family, table, cmds, rule, args.max_set_elements)
            if key not in experiments:
                if args.limit and len(experiments) >= args.limit:
                    break
                try:
                    r = run()
                    r.setdefault("rule", rule)
                except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                    r = {"rule": rule, "status": "harness-error", "detail": f"{type(e).__name__}: {e}"[:300]}
                r["first_case"] = c["id"]
                if len(experiments) % 100 == 99:
                    print(f"... {len(experiments) + 1} experiments, {time.monotonic() - t0:.0f} s", flush=True)
                experiments[key] = r
                if r["status"] == "mismatch":
                    print(f"MISMATCH {c['id']}: {rule}", flush=True)
            per_case[c["id"]] = key
    finally:
        tb.close()
    wall = time.monotonic() - t0
    doc = {"meta": {"when": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "wall_s": round(wall, 1),
                    "nfbpfd": bins.nfbpfd, "probe_gen": gen, "max_set_elements": args.max_set_elements,
                    "offload": args.offload, "replies": args.replies},
           "cases": [{"id": cid, "group": _group(cid), "experiment": k} for cid, k in per_case.items()],
           "experiments": experiments}
    with open(os.path.join(args.out, "verdicts.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    text = render(doc)
    print(text)
    if args.write_report:
        write_section(DOC, text, *markers(doc))
    bad = sum(1 for e in experiments.values() if e["status"] in ("mismatch", "harness-error", "daemon-died"))
    return 1 if (args.expect_no_mismatch and bad) else 0


def _group(case_id: str) -> str:
    return "/".join(case_id.split(":")[0].split("/")[:2])


def render(doc: dict) -> str:
    ex = doc["experiments"]
    rows = collections.OrderedDict()
    reasons: collections.Counter = collections.Counter()
    mism = []
    for c in doc["cases"]:
        e = ex[c["experiment"]]
        g = rows.setdefault(c["group"], collections.Counter())
        g["cases"] += 1
        st = e["status"]
        if st in ("kernel-refused", "kernel-setup-refused", "kernel-refused-prerouting"):
            g["kernel-refused"] += 1
            continue
        g["kernel-accepted"] += 1
        if st == "refused":
            g["refused"] += 1
            reasons[(c["group"], blur(e.get("detail", "")))] += 1
            continue
        if st == "daemon-died":
            g["daemon-died"] += 1
            continue
        g["offloaded"] += 1
        g[st] += 1
        if st in ("equal", "mismatch") and not e.get("rule_probes"):
            g["generic-only"] += 1
        g["probes"] += e.get("probes", 0)
    for k, e in ex.items():
        if e["status"] == "mismatch":
            mism.append(e)
    m = doc["meta"]
    begin, end = markers(doc)
    title = ("## Verdicts in hybrid mode (`run.sh --verdicts --offload hybrid`)" if begin == HYBRID_BEGIN
             else "## Verdicts: the same packets through the kernel and through nfbpfd (`run.sh --verdicts`)")
    out = [begin, title, "",
           f"Generated by `compat-tests/run.sh --verdicts --write-report` ({m['when']}, {m['wall_s']} s, "
           f"set probes capped at {m['max_set_elements']} elements per set); raw results: "
           "`compat-tests/out/verdicts.json`. How it works: `compat-tests/nfbpf_compat/verdicts.py`.", "",
           "Each tests-py case's rule runs in a prerouting chain (its own hook replaced: every injected frame "
           f"reaches prerouting) of a kernel-filtered namespace and of an `nfbpfd --offload={m.get('offload', 'strict')}` namespace; "
           "`nfbpf verify --batch` (eval::rule_probes on the rule as the kernel holds it) makes the packets that just "
           "match and just miss each boundary; they go out over veth with AF_PACKET and every counter of the "
           "table (the rule's own, a fall-through counter after it, an accepted-packets counter in a later "
           "chain) is compared. Cases that differ only in their original chain share one experiment. "
           "Every experiment also gets 38 generic packets (TCP, UDP, ICMP on both families, then 16 "
           "200-byte datagrams per family) so that rules with nothing to vary (limit, quota, meta length "
           "ranges rule_probes skips) still run; \"generic packets only\" counts experiments for which "
           "rule_probes made no packet.", "",
           "Shell dumps: the dump is loaded into the kernel, its `nft -j` listing rewritten (ip/ip6/inet "
           "tables only; every base chain moved to prerouting at a priority of its own; regular chains "
           "nothing jumps to become base chains; a `counter` after each rule's matches) and loaded on both "
           "sides; the probes of every rule are sent at once. \"kernel accepts\" for a dump means the "
           "kernel took the dump and its rewritten form (JSON re-import refuses some typeof sets and "
           "objects).", "",
           "A mismatch is printed with the first differing probes (frame as sent, Ethernet header "
           "included, and the counters that moved on each side). Counter keys: `chain#rule.nth`.", "",
           f"| group | cases | kernel accepts | {'nfbpfd accepts' if m.get('offload') == 'hybrid' else 'offloaded'} | verdict-equal | mismatch | generic packets only | no probes | refused | packets sent (per side) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tot = collections.Counter()
    for g, r in rows.items():
        tot.update(r)
        acc = r["kernel-accepted"]
        pct = f" ({100 * r['offloaded'] / acc:.1f}%)" if acc else ""
        out.append(f"| {g} | {r['cases']} | {acc} | {r['offloaded']}{pct} | {r['equal']} | {r['mismatch']} | "
                   f"{r['generic-only']} | {r['no-probes']} | {r['refused']} | {r['probes']} |")
    acc = tot["kernel-accepted"]
    pct = f" ({100 * tot['offloaded'] / acc:.1f}%)" if acc else ""
    out.append(f"| **total** | {tot['cases']} | {acc} | {tot['offloaded']}{pct} | {tot['equal']} | {tot['mismatch']} | "
               f"{tot['generic-only']} | {tot['no-probes']} | {tot['refused']} | {tot['probes']} |")
    out += ["", f"Distinct experiments: {len(ex)}; kernel refused the prerouting version: "
                f"{tot['kernel-refused']} case(s); harness errors: {tot['harness-error']}; daemon deaths: {tot['daemon-died']}.",
            "", "### Refused by nfbpfd (cases, reason as nfbpfd logs it, numbers blurred)", "",
            "| group | cases | reason |", "|---|---:|---|"]
    for (g, r), n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        cell = r.replace("|", "\\|")
        out.append(f"| {g} | {n} | {cell} |")
    out += hybrid_shares_section(doc)
    out += replies_section(doc)
    out += ["", "### Mismatches", ""]
    if not mism:
        out.append("None.")
    for e in mism:
        out.append(f"- `{e['first_case']}`: `{e['rule']}`")
        rep = e.get("replies", {})
        if "only_kernel" in rep:
            out.append(f"  - replies differ: kernel {rep.get('frames')} frames, nfbpf {rep.get('nfbpf_frames')}; "
                       f"only the kernel sent {rep['only_kernel'][:2]}, only nfbpfd sent {rep['only_nfbpf'][:2]}")
        for p in e.get("differing_probes", [])[:3]:
            out.append(f"  - probe «{p.get('probe')}» frame `{p.get('frame', '')[:160]}`: "
                       f"kernel {json.dumps(p.get('kernel'))} / nfbpf {json.dumps(p.get('nfbpf'))}")
    out.append(end)
    return "\n".join(out) + "\n"


SHARE_KEYS = ("rules_bpf", "rules_kernel", "rules_both", "packets_bpf", "packets_kernel", "packets_both",
              "matches_bpf", "matches_kernel", "matches_both")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def hybrid_shares_section(doc: dict) -> list[str]:
    """Hybrid runs: per suite (group), the share of rules nfbpfd ran as BPF and of packets BPF decided
    (each distinct experiment once, in the group of its first case; refused or kernel-refused
    experiments have no shares)."""
    ex = doc["experiments"]
    if not any("shares" in e for e in ex.values()):
        return []
    rows: dict[str, collections.Counter] = collections.OrderedDict()
    for k, e in ex.items():
        if "shares" not in e:
            continue
        r = rows.setdefault(_group(e["first_case"]), collections.Counter())
        r["experiments"] += 1
        r.update({k2: v for k2, v in e["shares"].items() if k2 in SHARE_KEYS})
    out = ["", "### Hybrid mode: where the rules ran and who decided the packets", "",
           "Per suite, over the experiments both sides loaded (each distinct experiment once). Rules: a "
           "tests-py experiment has one (the case's rule), a dump all of its rules; each counts where "
           "`nfbpf status` placed its chain (\"both\": a regular chain reached from a BPF and a kernel "
           "base chain runs on both sides). Packets: those that reached prerouting (the arrival counter). "
           "A tests-py packet is decided where the case's chain ran; a dump's packet in BPF when every base "
           "chain of the dump ran as BPF, in the kernel when every one ran in the kernel, \"both\" when "
           "it crossed chains on both sides. Rule matches: packets counted right after each rule's matches, "
           "by the side that counted them.", "",
           "| suite | experiments | rules in BPF | rules in kernel | rules on both | rules offloaded | "
           "packets decided in BPF | in kernel | crossing both | packets decided in BPF (share) | "
           "rule matches BPF / kernel |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tot = collections.Counter()
    for g, r in list(rows.items()) + [("**total**", tot)]:
        if r is not tot:
            tot.update(r)
        rules = r["rules_bpf"] + r["rules_kernel"] + r["rules_both"]
        pk = r["packets_bpf"] + r["packets_kernel"] + r["packets_both"]
        out.append(f"| {g} | {r['experiments']} | {r['rules_bpf']} | {r['rules_kernel']} | {r['rules_both']} | "
                   f"{_pct(r['rules_bpf'], rules)} | {r['packets_bpf']} | {r['packets_kernel']} | "
                   f"{r['packets_both']} | {_pct(r['packets_bpf'], pk)} | "
                   f"{r['matches_bpf']} / {r['matches_kernel']} |")
    return out


def replies_section(doc: dict) -> list[str]:
    """--replies runs: per suite, the frames the receivers sent back, by kind, compared."""
    ex = doc["experiments"]
    if not any("replies" in e for e in ex.values()):
        return []
    rows: dict[str, collections.Counter] = collections.OrderedDict()
    kinds_seen: collections.Counter = collections.Counter()
    for e in ex.values():
        if "replies" not in e:
            continue
        r = rows.setdefault(_group(e["first_case"]), collections.Counter())
        rep = e["replies"]
        r["experiments"] += 1
        r["frames"] += rep.get("frames", 0)
        r["differ"] += 1 if "only_kernel" in rep else 0
        r["match-only probes"] += 1 if e.get("match_only_probes") else 0
        for k, n in rep.get("kinds", {}).items():
            r[k] += n
            kinds_seen[k] += n
    fwd_examples: collections.Counter = collections.Counter()
    for e in ex.values():
        fwd_examples.update(e.get("replies", {}).get("forwarded_to", {}))
    out = ["", "### Replies: what the receivers sent back (`--replies`)", "",
           "Each receiver has a local address, routes back to the sender, forwarding on and ICMP rate limits "
           "off; every frame it sends back during an experiment (ICMP errors with the quoted packet, TCP "
           "resets with seq/ack, forwarded packets with NAT's rewritten addresses and ports, echo replies) "
           "is captured on the sender's side and the kernel side's and nfbpfd side's frames are compared "
           "as multisets (IPv4 id/checksum and IPv6 flow label zeroed; ND/MLD left out; "
           "`compat-tests/nfbpf_compat/replies.py`). Nat and reject rules get probes made for their "
           "matches alone (statement cut off) when the probe generator refuses the whole rule.", "",
           "| suite | experiments | frames compared (per side) | experiments whose replies differ | "
           "match-only probes | frames by kind (kernel side) |",
           "|---|---:|---:|---:|---:|---|"]
    tot = collections.Counter()
    for g, r in list(rows.items()) + [("**total**", tot)]:
        if r is not tot:
            tot.update(r)
        kinds = ", ".join([f"{k} {r[k]}" for k, _ in kinds_seen.most_common() if r[k]][:10])
        out.append(f"| {g} | {r['experiments']} | {r['frames']} | {r['differ']} | {r['match-only probes']} | {kinds} |")
    if fwd_examples:
        out += ["", "Forwarded packets seen most often (destination as it left the receiver, NAT applied): "
                + ", ".join(f"`{d}` {n}" for d, n in fwd_examples.most_common(6)) + "."]
    return out


def write_section(path: str, section: str, begin: str = BEGIN, end: str = END) -> None:
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        post = rest.split(end, 1)[1].lstrip("\n")
        text = pre + section + post
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
