"""`run.sh --iptables --verdicts`: the verdict differential for iptables-legacy's filter table.

The same testbed, frames, sentinel and senders as verdicts.py (nft), with iptables-legacy /
ip6tables-legacy in place of nft for the rule under test:

    sender S ── k0 ═ p1 ── receiver K   (the kernel's x_tables run the rule)
             └─ n0 ═ p1 ── receiver N   (iptables-legacy via nfbpf-run; nfbpfd --offload=strict runs
                                         the filter table as BPF)

Both receivers forward (ip_forward, IPv6 forwarding, default routes out of a dummy device), so
every injected frame that the IP stack accepts and does not address to the receiver itself crosses
FORWARD. Each distinct (family, rule) of the extension .t lines whose table is filter becomes one
experiment: the rule is appended to FORWARD (whatever chain its .t block named: cases that differ
only in their chain share one experiment), then a bare `-A FORWARD` that counts what fell through.
An nft table beside it (loaded through nfbpf-run on N, so nfbpfd runs it too) holds the sentinel
rules and an arrival counter at prerouting -150, and a counter at forward 150 (packets the filter
table let through). The probes come from `nfbpf_ipt_probe_gen` (the kernel's table, read with
GET_ENTRIES, lowered by translate/ipt, eval::rule_probes on every rule), plus verdicts.py's generic
packets. Compared: every counter of `iptables-legacy-save -c` (rules and policies) and of the nft
table, as deltas over the experiment.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import time

from . import ipt_cases
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


class IptTestbed(vd.Testbed):
    """verdicts.Testbed whose receivers forward, with iptables on either side."""

    def __init__(self, nfbpf_build: str, probe_gen: str, log_path: str, offload: str = "strict"):
        super().__init__(nfbpf_build, probe_gen, log_path, offload=offload)
        self.lockfile = os.path.join(self.sock_dir, "xtables.lock")

    def open(self) -> None:
        super().open()
        for side in ("K", "N"):
            ns = self.ns[side]
            # The way out: a veth d0 (its peer d1 drops what arrives: other-host MAC) with default
            # routes via permanent neighbours, so forwarding needs no ARP/ND; no IPv6 addresses on
            # d0/d1, so they send nothing of their own.
            for argv in (["sysctl", "-qw", "net.ipv4.ip_forward=1"], ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
                         ["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"],
                         ["ip", "link", "set", "d0", "addrgenmode", "none"], ["ip", "link", "set", "d1", "addrgenmode", "none"],
                         # A forwarding host joins ff02::2 on every interface: d0's MLD reports
                         # would arrive on d1 (prerouting) at random times; d1 drops IPv6 instead.
                         ["sysctl", "-qw", "net.ipv6.conf.d1.disable_ipv6=1"],
                         ["ip", "link", "set", "d0", "up"], ["ip", "link", "set", "d1", "up"],
                         ["ip", "addr", "add", "10.99.0.2/24", "dev", "d0"],
                         ["ip", "neigh", "add", "10.99.0.1", "lladdr", "02:00:00:00:00:99", "dev", "d0", "nud", "permanent"],
                         ["ip", "route", "add", "default", "via", "10.99.0.1"],
                         ["ip", "-6", "neigh", "add", "fe80::1", "lladdr", "02:00:00:00:00:99", "dev", "d0", "nud", "permanent"],
                         ["ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "d0"]):
                vd._checked(["ip", "netns", "exec", ns] + argv)
        self.load_sentinels()

    def load_sentinels(self) -> None:
        for side in ("K", "N"):
            p = self.nft(side, ["-f", "-"], stdin=sentinel_ruleset())
            if p.returncode != 0:
                raise RuntimeError(f"sentinel table on {side}: {p.stderr.strip()}")

    def restart_daemon(self) -> None:
        super().restart_daemon()
        p = self.nft("N", ["-f", "-"], stdin=sentinel_ruleset())
        if p.returncode != 0:
            raise RuntimeError(f"sentinel table on N: {p.stderr.strip()}")

    def legacy_where(self, family: str, table: str) -> str:
        """hybrid: where nfbpfd runs an iptables-legacy table ("bpf", "kernel", "none"; "" when
        unknown), from `nfbpf status -j`'s legacy_tables."""
        r = vd._sh([self.nfbpf_cli, "--socket", self.socket_path, "status", "-j"])
        try:
            for t in json.loads(r.stdout).get("legacy_tables", []):
                if t["family"] == family and t["table"] == table:
                    return t["where"]
        except (ValueError, KeyError, TypeError):
            pass
        return ""

    def ipt(self, side: str, tool: str, args: list[str]):
        env = dict(os.environ, LC_ALL="C", XTABLES_LOCKFILE=self.lockfile)
        argv = ["ip", "netns", "exec", self.ns[side]]
        if side == "N":
            env["NFBPF_SOCKET"] = self.socket_path
            argv.append(self.nfbpf_run)
        return vd._sh(argv + [tool, *args], env=env)

    def ipt_shell(self, side: str, tool: str, rule: str):
        """`tool -A FORWARD <rule>` with the rule's own shell quoting, as the .t harness runs it."""
        env = dict(os.environ, LC_ALL="C", XTABLES_LOCKFILE=self.lockfile)
        pre = "" if side == "K" else f"NFBPF_SOCKET={shlex.quote(self.socket_path)} {shlex.quote(self.nfbpf_run)} "
        cmd = f"{pre}{tool} -t filter -A FORWARD {rule}"
        return vd._sh(["ip", "netns", "exec", self.ns[side], "sh", "-c", cmd], env=env)

    def gen_ipt_probes(self, family: str, max_elems: int):
        p = vd._sh(["ip", "netns", "exec", self.ns["K"], self.probe_gen, family, vd.RECV_DEV, vd.RECV_MAC,
                    str(max_elems)], timeout=60)
        probes = []
        for line in p.stdout.splitlines():
            h, exp, what = line.split(" ", 2)
            probes.append((bytes.fromhex(h), exp == "1", what))
        return p.returncode, probes, p.stderr.strip()


# Not compared: the sentinels (moved by design), and the INPUT/OUTPUT policies, which also count
# the receivers' own IPv6 housekeeping on p1 (DAD, router solicitations, MLD) at their own times.
IGNORED = (SENT_V4, SENT_V6, "policy INPUT", "policy OUTPUT")

SAVE_RULE = re.compile(r"^\[(\d+):(\d+)\] -A (\S+)")
SAVE_POLICY = re.compile(r"^:(\S+) (\S+) \[(\d+):(\d+)\]")


def read_counters(tb: IptTestbed, side: str, tool: str) -> dict[str, list[int]] | None:
    p = tb.ipt(side, tool + "-save", ["-c", "-t", "filter"])
    n = vd.read_all_counters(tb, side)
    if p.returncode != 0 or n is None:
        return None
    out = {k: v for k, v in n.items() if SENT_TABLE in k}
    pos: collections.Counter = collections.Counter()
    for line in p.stdout.splitlines():
        if m := SAVE_POLICY.match(line):
            out[f"policy {m.group(1)}"] = [int(m.group(3)), int(m.group(4))]
        elif m := SAVE_RULE.match(line):
            chain = m.group(3)
            out[f"{chain}#{pos[chain]}"] = [int(m.group(1)), int(m.group(2))]
            pos[chain] += 1
    return out


def _settle(tb: IptTestbed, tool: str, key: str, want: dict) -> dict:
    got = {}
    for side in ("K", "N"):
        deadline = time.monotonic() + 2.0
        while True:
            c = read_counters(tb, side, tool)
            if (c is not None and c.get(key, [0])[0] >= want[side]) or time.monotonic() > deadline:
                got[side] = c
                break
            time.sleep(0.005)
    return got


def _reset(tb: IptTestbed, side: str, tool: str) -> None:
    for args in (["-F"], ["-X"], ["-P", "INPUT", "ACCEPT"], ["-P", "FORWARD", "ACCEPT"], ["-P", "OUTPUT", "ACCEPT"],
                 ["-Z"]):
        tb.ipt(side, tool, ["-t", "filter", *args])


def _refusal_reason(tb: IptTestbed, log_offset: int, stderr: str) -> str:
    try:
        with open(tb.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(log_offset)
            text = f.read()
    except OSError:
        text = ""
    for marker in ("refused by the backend:", "offload refused the batch:"):
        for line in text.splitlines():
            if marker in line:
                return line.split(marker, 1)[1].strip()
    return stderr.strip().splitlines()[-1][:200] if stderr.strip() else "no message"


def run_experiment(tb: IptTestbed, family: str, rule: str, max_elems: int) -> dict:
    tool = "ip6tables-legacy" if family == "ip6" else "iptables-legacy"
    res: dict = {"rule": rule}
    _reset(tb, "K", tool)
    p = tb.ipt_shell("K", tool, rule)
    if p.returncode != 0:
        res["status"] = "kernel-refused"
        res["detail"] = p.stderr.strip()[:300]
        return res
    tb.ipt("K", tool, ["-t", "filter", "-A", "FORWARD"])
    if not tb.daemon_alive():
        tb.restart_daemon()
    _reset(tb, "N", tool)
    log_off = os.path.getsize(tb.log_path) if os.path.exists(tb.log_path) else 0
    p = tb.ipt_shell("N", tool, rule)
    if p.returncode != 0:
        if not tb.daemon_alive():
            res["status"] = "daemon-died"
            tb.restart_daemon()
            return res
        res["status"] = "refused"
        res["detail"] = _refusal_reason(tb, log_off, p.stderr)[:400]
        return res
    tb.ipt("N", tool, ["-t", "filter", "-A", "FORWARD"])
    if tb.offload == "hybrid":  # BPF, or the kernel's x_tables of N when BPF cannot run the rule
        res["placed"] = tb.legacy_where(family, "filter")
    rc, probes, err = tb.gen_ipt_probes(family, max_elems)
    if rc != 0 and res.get("placed") == "kernel":
        # The probe generator lowers the rule, which is what BPF refused: compare the kernel-placed
        # table on the generic packets alone.
        probes, res["probe_note"] = [], "generic packets only: " + err[:200]
    elif rc != 0:
        res["status"] = "no-probes"
        res["detail"] = err[:300]
        return res
    res["rule_probes"] = len(probes)
    probes += [(f, False, f"generic packet {i}") for i, f in enumerate(vd.generic_frames())]
    res["probes"] = len(probes)
    v6 = family == "ip6"
    key = SENT_V6 if v6 else SENT_V4
    base = _settle(tb, tool, key, {"K": 0, "N": 0})
    if base["K"] is None or base["N"] is None:
        res["status"] = "harness-error"
        res["detail"] = "cannot read the counters before sending"
        return res
    vd._send_all(tb, [p[0] for p in probes], v6)
    after = _settle(tb, tool, key, {s: base[s].get(key, [0])[0] + 1 for s in ("K", "N")})
    if after["K"] is None or after["N"] is None:
        res["status"] = "harness-error"
        res["detail"] = "cannot read the counters after sending"
        return res
    dk = {k: v for k, v in vd._delta(after["K"], base["K"]).items() if k not in IGNORED}
    dn = {k: v for k, v in vd._delta(after["N"], base["N"]).items() if k not in IGNORED}
    res["kernel"] = dk
    res["arrived"] = dk.get(ARRIVAL, [0])[0]
    res["rule_matched"] = dk.get("FORWARD#0", [0])[0]
    if dk == dn:
        res["status"] = "equal"
        return res
    res["status"] = "mismatch"
    res["nfbpf"] = dn
    res["differing_probes"] = _one_by_one(tb, tool, v6, probes)
    return res


def _one_by_one(tb: IptTestbed, tool: str, v6: bool, probes: list, limit: int = 5) -> list[dict]:
    key = SENT_V6 if v6 else SENT_V4
    prev = _settle(tb, tool, key, {"K": 0, "N": 0})
    out = []
    for frame, expect, what in probes:
        vd._send_all(tb, [frame], v6)
        now = _settle(tb, tool, key, {s: prev[s].get(key, [0])[0] + 1 for s in ("K", "N")})
        a = {k: v for k, v in vd._delta(now["K"], prev["K"]).items() if v != [0, 0] and k not in IGNORED}
        b = {k: v for k, v in vd._delta(now["N"], prev["N"]).items() if v != [0, 0] and k not in IGNORED}
        prev = now
        if a != b:
            out.append({"probe": what, "frame": frame.hex(), "evaluator_expects_match": expect, "kernel": a, "nfbpf": b})
            if len(out) >= limit:
                break
    return out


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
    ap.add_argument("--nfbpf-build", help="build dir holding bin/nfbpfd, bin/nfbpf-run, lib/libnfbpf-shim.so, "
                                          "tools/nfbpf_ipt_probe_gen")
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
    gen = os.path.join(build, "tools", "nfbpf_ipt_probe_gen") if build else None
    if bins is None or gen is None or not os.access(gen, os.X_OK):
        print("needs nfbpfd/nfbpf-run/shim and tools/nfbpf_ipt_probe_gen built", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, "ipt-verdicts-nfbpfd.log")
    open(log, "w").close()
    tb = IptTestbed(build, gen, log, offload=args.offload)
    experiments: dict[str, dict] = {}
    per_case: dict[str, str] = {}
    t0 = time.monotonic()
    try:
        tb.open()
        for c in cases(args.filter):
            key = json.dumps([c.family, c.rule])
            if key not in experiments:
                if args.limit and len(experiments) >= args.limit:
                    break
                try:
                    r = run_experiment(tb, c.family, c.rule, args.max_set_elements)
                except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                    r = {"rule": c.rule, "status": "harness-error", "detail": f"{type(e).__name__}: {e}"[:300]}
                r["first_case"] = c.id
                experiments[key] = r
                if r.get("placed") == "kernel":  # a fresh N, so the next rule can run as BPF again
                    tb.close()
                    tb = IptTestbed(build, gen, log, offload=args.offload)
                    tb.open()
                if r["status"] == "mismatch":
                    print(f"MISMATCH {c.id}: {c.rule}", flush=True)
                if len(experiments) % 50 == 0:
                    print(f"... {len(experiments)} experiments, {time.monotonic() - t0:.0f} s", flush=True)
            per_case[c.id] = key
    finally:
        tb.close()
    doc = {"meta": {"when": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
                    "wall_s": round(time.monotonic() - t0, 1), "nfbpfd": bins.nfbpfd, "probe_gen": gen,
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
