"""The live section of docs/performance.md, from bench/live/run.py's JSON, and its plot (gnuplot).

Figures: `target_ns` is the sender's CPU time per packet through the filtered namespace, `extra_ns`
the same minus the paired unfiltered reference path, i.e. what the filter costs. Ratios are taken
against the kernel's nf_tables measured in the same run.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

ENGINES = ("nft", "iptables-legacy", "nfbpf", "nfbpf-linear")
LABEL = {"nft": "kernel nft", "iptables-legacy": "iptables-legacy", "nfbpf": "nfbpf",
         "nfbpf-linear": "nfbpf, merge_runs off"}


def _index(results: list[dict]) -> dict[tuple[str, str, int], dict]:
    return {(r["shape"], r["engine"], r["n"]): r for r in results}


def _cell(r: dict | None, key: str = "extra_ns") -> str:
    if not r:
        return "—"
    if "error" in r:
        return "fails"
    if "skipped" in r:
        return "n/a"
    return f"{r[key]:,.0f}"


def _ratio(a: dict | None, b: dict | None, key: str) -> str:
    if not a or not b or key not in a or key not in b or b[key] <= 0:
        return "—"
    return f"{a[key] / b[key]:.2f}×"


def plot(results: list[dict], png: str) -> bool:
    """Filter cost (extra ns per packet) against N, log-log, one line per engine and shape."""
    if not shutil.which("gnuplot"):
        return False
    series = []
    for shape in ("linear", "set"):
        for engine in ENGINES:
            pts = sorted((r["n"], max(r["extra_ns"], 1.0)) for r in results
                         if r["shape"] == shape and r["engine"] == engine and "extra_ns" in r and r["n"] > 0)
            if pts:
                series.append((f"{LABEL[engine]}, {shape}", pts))
    if not series:
        return False
    script = [
        "set terminal pngcairo size 900,560 font ',11'" if _has_cairo() else "set terminal png size 900,560",
        f"set output '{png}'",
        "set logscale xy", "set grid",
        "set xlabel 'rules N'", "set ylabel 'filter cost per packet (ns, sender CPU, minus reference)'",
        "set key left top",
        "plot " + ", ".join(f"'-' using 1:2 with linespoints title '{t}'" for t, _ in series),
    ]
    for _, pts in series:
        script += [f"{n} {v:.1f}" for n, v in pts] + ["e"]
    os.makedirs(os.path.dirname(png), exist_ok=True)
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
    return True


def _has_cairo() -> bool:
    out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (out.stdout + out.stderr)


def render(path: str, png: str | None, png_rel: str | None) -> list[str]:
    with open(path) as f:
        data = json.load(f)
    res = data["results"]
    ix = _index(res)
    sizes = sorted({r["n"] for r in res if r["shape"] == "linear"})
    out = ["## Live per-packet cost over veth (kernel nf_tables, iptables-legacy, nfbpf in one run)", ""]
    out += [
        f"Measured by `bench/live/run.py` ({data['date']}, load average "
        f"{', '.join(f'{x:.1f}' for x in data['load_avg'])} at the end; {data['rounds']} paired bursts of "
        f"{data['count']:,} UDP datagrams per configuration, 20th percentile).",
        "",
        "Method: a sender namespace sends UDP datagrams over one veth pair into the namespace under test",
        "(the ruleset at the input hook, loaded by the engine's own tool: `nft -f`, `iptables-legacy-restore`,",
        "or `nft -f` through nfbpf-run into `nfbpfd --offload=strict`) and, alternately, over a second veth",
        "pair into a namespace without any filter. Both end at a UDP socket nobody reads. The veth receive",
        "path runs in the sender's context (no IRQ time accounting in this kernel), so the sender thread's",
        "CPU time per packet is the whole cost; *filter cost* = filtered path − reference path. Every",
        "configuration gets fresh namespaces. *delivered* is the share of datagrams that reached the socket:",
        "the engines must agree on it (the verdict check).",
        "",
        "Linear: N rules `ip saddr A drop` the traffic does not match; set: the same N addresses in one set.",
        "nfbpf runs its translate passes, so from 64 rules on such a run is one hash lookup",
        "(translate/passes/merge_runs.h); *nfbpf, merge off* is the same daemon with the pass off",
        "(`NFBPF_MERGE_MIN_RUN=0`): N compares, the cost of rules that cannot merge.",
        "",
        "| N | kernel nft filter ns | iptables-legacy filter ns | nfbpf filter ns | nfbpf merge off filter ns | "
        "nfbpf ÷ nft (filter) | nfbpf total ns | nfbpf total ÷ its N=0 | set: nft filter ns | set: nfbpf filter ns | "
        "delivered nft/legacy/nfbpf/merge off |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    base = ix.get(("linear", "nfbpf", 0))
    for n in sizes:
        k, l, b, bl = (ix.get(("linear", e, n)) for e in ENGINES)
        sk, sb = ix.get(("set", "nft", n)), ix.get(("set", "nfbpf", n))
        deliv = "/".join(f"{r['delivered']:.2f}" if r and "delivered" in r else "—" for r in (k, l, b, bl))
        out.append(f"| {n:,} | {_cell(k)} | {_cell(l)} | {_cell(b)} | {_cell(bl)} | {_ratio(b, k, 'extra_ns')} | "
                   f"{_cell(b, 'target_ns')} | {_ratio(b, base, 'target_ns')} | {_cell(sk)} | {_cell(sb)} | {deliv} |")
    out.append("")
    # ns per rule from the largest linear N each engine ran.
    per_rule = []
    for e in ENGINES:
        runs = [r for r in res if r["shape"] == "linear" and r["engine"] == e and "extra_ns" in r]
        zero = next((r for r in runs if r["n"] == 0), None)
        top = max(runs, key=lambda r: r["n"], default=None)
        if zero and top and top["n"] > 0:
            per_rule.append(f"{LABEL[e]} {(top['extra_ns'] - zero['extra_ns']) / top['n']:.2f} ns/rule "
                            f"(N = {top['n']:,})")
    if per_rule:
        out += ["Per rule, linear: " + "; ".join(per_rule) + ".", ""]
    mixed = [ix.get(("mixed", e, 0)) for e in ENGINES]
    if any(mixed):
        out += ["Mixed realistic input chain (`bench/live/rulesets.py`: conntrack, lo, blocked networks in a",
                "set, ICMP, TCP/UDP ports, jumps to `lan` and `services`, which accepts the traffic):", "",
                "| engine | filter ns | total ns | ÷ kernel nft (filter) | delivered |", "|---|---:|---:|---:|---:|"]
        for e, r in zip(ENGINES, mixed):
            d = f"{r['delivered']:.2f}" if r and "delivered" in r else "—"
            out.append(f"| {LABEL[e]} | {_cell(r)} | {_cell(r, 'target_ns')} | {_ratio(r, mixed[0], 'extra_ns')} | {d} |")
        out.append("")
    out += ["### Commit time and daemon memory", "",
            "Wall-clock time of loading the whole ruleset (the tool's run, end to end) and nfbpfd's RSS after it:", "",
            "| N | `nft -f` kernel (s) | `iptables-legacy-restore` (s) | `nft -f` via nfbpfd (s) | same, merge off (s) | "
            "nfbpfd RSS (MiB) |",
            "|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        k, l, b, bl = (ix.get(("linear", e, n)) for e in ENGINES)
        def s(r):
            return f"{r['load_s']:.2f}" if r and "load_s" in r else ("fails" if r and "error" in r else "—")
        rss = f"{b['rss_kib'] / 1024:.1f}" if b and b.get("rss_kib") else "—"
        out.append(f"| {n:,} | {s(k)} | {s(l)} | {s(b)} | {s(bl)} | {rss} |")
    out.append("")
    errors = [r for r in res if "error" in r]
    if errors:
        out += ["Failures:", ""] + [f"- {r['engine']} {r['shape']} N={r['n']:,}: {r['error']}" for r in errors] + [""]
    if png and png_rel and plot(res, png):
        out += [f"![filter cost against N, log scale]({png_rel})", ""]
    return out
