"""Verdict differential: the same probe packets through a kernel-filtered namespace and an
nfbpfd-filtered one, per-rule counters compared — the rulesets of the experiments.

The testbed (scratch namespaces, veths, nfbpfd), loading, probing (eval::rule_probes on the rule as
the kernel holds it), sending, settling on the sentinel, comparing and the reply capture of
`--replies` are `nfbpf verify --batch` (nfnl-server/cli/verify/experiment.h); verdict_batch.py
drives it. This module says what an experiment is:

Each tests-py case becomes one table (the case's family and name) with:
  chain vhead   prerouting -150: the sentinel rule (counter drop) and an arrival `counter`
  chain probe   prerouting 0, the case's chain type: THE RULE, then a fall-through `counter`
  chain vtail   prerouting 150: `counter` (packets the probe chain accepted)
plus the file's regular chains, sets, elements and objects as the case declares them
(case_ruleset). The case's own hook (input, output, forward, ...) is replaced by prerouting because
every injected frame that survives the IP stack's sanity checks reaches prerouting, whatever its
destination address. A shell dump is loaded into the kernel and its listing rewritten so that
every rule's matches are counted at prerouting (dump_for_prerouting). Hybrid runs also record
where the rules ran and who decided the packets (_experiment_shares, dump_shares).
"""
from __future__ import annotations

import collections
import json
import os
import re

SENTINEL4 = ("192.0.2.222", "192.0.2.223")
SENTINEL6 = ("2001:db8:ffff::222", "2001:db8:ffff::223")


# ---- cases -----------------------------------------------------------------------------------

def _chain_type(config: str) -> str:
    m = re.search(r"\btype\s+(\w+)", config)
    t = m.group(1) if m else "filter"
    return "filter" if t == "route" else t


def case_ruleset(case: dict) -> tuple[str, str, str, list[str], str]:
    """(family, table, experiment key, setup commands, the rule) for a tests-py case dict."""
    _, _, family, table, chain = case["id"].rsplit(":", 4)
    setup = case["setup"]
    chain_lines = [c for c in setup if c.startswith("add chain ")]
    config = ""
    regular = []
    for c in chain_lines:
        name_and_rest = c[len(f"add chain {family} {table} "):]
        name, _, rest = name_and_rest.partition(" ")
        if name == chain:
            config = rest
        elif not rest:
            regular.append(c)
    extras = [c for c in setup if not c.startswith("add chain ") and not c.startswith("add table ")]
    spec = f"{family} {table}"
    ctype = _chain_type(config)
    sentinel = (f"ip6 saddr {SENTINEL6[0]} ip6 daddr {SENTINEL6[1]}" if family == "ip6"
                else f"ip saddr {SENTINEL4[0]} ip daddr {SENTINEL4[1]}") + " udp dport 9 counter drop"
    cmds = [f"add table {spec}", *regular,
            f"add chain {spec} vhead {{ type filter hook prerouting priority -150; }}",
            f"add chain {spec} probe {{ type {ctype} hook prerouting priority 0; }}",
            f"add chain {spec} vtail {{ type filter hook prerouting priority 150; }}",
            *extras,
            f"add rule {spec} vhead {sentinel}",
            f"add rule {spec} vhead counter",
            f"add rule {spec} vtail counter"]
    rule = case["command"].split(" ", 5)[5]
    key = json.dumps([family, table, ctype, cmds, rule])
    return family, table, key, cmds, rule


# Self-test of the comparison (CTest compat_verdicts_detects_difference): the nfbpf side's arrival
# counter skips TCP, so every TCP probe must be reported as a difference.
SABOTAGE = os.environ.get("NFBPF_VERDICTS_SABOTAGE") == "1"
# Self-test of --replies: the nfbpf side rejects with another ICMP code (admin- instead of
# host-prohibited). Counters cannot tell (same verdict); only the ICMP errors sent back show it.
REPLIES_SABOTAGE = os.environ.get("NFBPF_REPLIES_SABOTAGE") == "1"


def _side_of(where: str) -> str:
    """A placement as a share bucket: "bpf", "kernel", "both" (a regular chain reached from base
    chains on both sides runs on both) or "" (runs nowhere / unknown)."""
    return {"bpf": "bpf", "kernel": "kernel", "bpf+kernel": "both"}.get(where, "")


def _experiment_shares(where: str, arrived: int, rule_counter: list[int] | None) -> dict:
    side = _side_of(where)
    out = collections.Counter()
    if side:
        out[f"rules_{side}"] += 1
        out[f"packets_{side}"] += arrived
        if rule_counter:   # the rule's first counter (its own or the appended one): its matches
            out[f"matches_{side}"] += rule_counter[0]
    return dict(out)


def dump_shares(placements: dict, counters: dict, arrived: int) -> dict:
    """Hybrid shares of one shell dump (harness table left out): its rules by where their chain ran,
    rule matches (packets counted by the counter after each rule's matches) by where they were
    counted, and the packets that reached prerouting by who decided them — BPF when every base chain
    of the dump ran as BPF, the kernel when every one ran in the kernel, "both" when a packet went
    through chains on both sides."""
    out = collections.Counter()
    for key, (pk, _by) in counters.items():
        chain_id, _, _ = key.rpartition("#")
        fam, table, chain = chain_id.split(" ", 2)
        if table == SENTINEL_TABLE:
            continue
        side = _side_of(placements.get((fam, table, chain), ("", False))[0])
        if side and key.endswith(".0"):
            out[f"rules_{side}"] += 1
        if side:
            out[f"matches_{side}"] += pk
    bases = {_side_of(w) for (_f, table, _c), (w, base) in placements.items()
             if table != SENTINEL_TABLE and base and w in ("bpf", "kernel")}
    if bases:
        out["packets_" + (bases.pop() if len(bases) == 1 else "both")] += arrived
    return dict(out)



# ---- shell dumps: a whole ruleset at once -----------------------------------------------------

SENTINEL_TABLE = "__verdicts"


def dump_for_prerouting(listing: dict) -> tuple[dict, list[tuple[str, str]]] | None:
    """The kernel's `nft -j list ruleset` of a loaded dump, made observable at prerouting:
    ip/ip6/inet tables only (no flowtables), every base chain moved to prerouting at a priority of
    its own per IP family (-149 ... 149: between the sentinel chains; nfbpfd refuses two chains at one attach
    point), and a counter in every rule right after its matches, so that each
    rule's matches are counted. Returns (ruleset to load with `nft -j -f`, tables probed)."""
    out = []
    tables = []
    prio = {"4": -149, "6": -149}
    referenced = set()

    def scan(x) -> None:   # chains some jump/goto (rule or verdict map element) reaches
        if isinstance(x, dict):
            for k, v in x.items():
                if k in ("jump", "goto") and isinstance(v, dict) and "target" in v:
                    referenced.add(v["target"])
                scan(v)
        elif isinstance(x, list):
            for v in x:
                scan(v)
    scan(listing)
    for item in listing.get("nftables", []):
        (kind, obj), = item.items()
        if kind == "metainfo":
            continue
        if obj.get("family") not in ("ip", "ip6", "inet") or kind == "flowtable":
            continue
        obj = {k: v for k, v in obj.items() if k != "handle"}
        if kind == "table":
            tables.append((obj["family"], obj["name"]))
        if kind == "chain" and "hook" not in obj and obj["name"] not in referenced:
            # A regular chain nothing jumps to would never run: probe it as a base chain.
            obj.update(type="filter", hook="prerouting", policy="accept")
        if kind == "chain" and "hook" in obj:
            # ip chains share attach points with ip and inet chains, ip6 with ip6 and inet.
            fam = obj["family"]
            doms = {"ip": ["4"], "ip6": ["6"]}.get(fam, ["4", "6"])
            p = max(prio[d] for d in doms)
            if p > 149:
                return None
            for d in doms:
                prio[d] = p + 1
            obj["hook"] = "prerouting"
            obj["prio"] = p
            if obj.get("type") == "route":
                obj["type"] = "filter"
        if kind == "rule":
            # Right after the rule's matches: counts the packets that matched it, whatever its
            # statements do next (a counter after a terminal statement is refused).
            exprs = list(obj.get("expr", []))
            at = next((i for i, e in enumerate(exprs) if "match" not in e), len(exprs))
            exprs.insert(at, {"counter": None})
            obj["expr"] = exprs
        out.append({"add": {kind: obj}})
    # Tables, then chains (verdict map elements name them), then sets/maps/objects, rules last.
    rank = {"table": 0, "chain": 1, "rule": 3}
    out.sort(key=lambda a: rank.get(next(iter(a["add"])), 2))
    fam4, fam6 = SENTINEL4, SENTINEL6
    t = {"family": "inet", "table": SENTINEL_TABLE}
    out += [{"add": {"table": {"family": "inet", "name": SENTINEL_TABLE}}},
            {"add": {"chain": dict(t, name="vhead", type="filter", hook="prerouting", prio=-150, policy="accept")}},
            {"add": {"chain": dict(t, name="vtail", type="filter", hook="prerouting", prio=150, policy="accept")}},
            {"add": {"rule": dict(t, chain="vhead", expr=[
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": fam4[0]}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": fam4[1]}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 9}},
                {"counter": None}, {"drop": None}])}},
            {"add": {"rule": dict(t, chain="vhead", expr=[{"counter": None}])}},
            {"add": {"rule": dict(t, chain="vtail", expr=[{"counter": None}])}}]
    return {"nftables": [{"metainfo": {"json_schema_version": 1}}] + out}, tables


SENTINEL_KEY = f"inet {SENTINEL_TABLE} vhead#0.0"
ARRIVAL_KEY = f"inet {SENTINEL_TABLE} vhead#1.0"
