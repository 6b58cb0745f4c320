"""The verdict differential's experiments, run by `nfbpf verify --batch` (one engine with
`nfbpf verify`: nfnl-server/cli/verify/batch.h, experiment.h).

This module is only the driver: it turns a tests-py case (verdicts.case_ruleset) or a shell dump
(verdicts.dump_for_prerouting) into a batch request — what to load, which probes, which counters —
and the reply into the result record verdicts_cli.py reports. The testbed (scratch namespaces,
veths, nfbpfd), loading on both sides, nfbpfd's refusal reasons and restarts, probe generation
(eval::rule_probes on what the kernel holds), sending, settling on the sentinel and naming the
differing probes are verify's C++.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

from . import replies as rp
from . import verdicts as vd


class Batch:
    """One `nfbpf verify --batch` process: its testbed lives as long as it does."""

    def __init__(self, nfbpf_build: str, log_path: str, offload: str = "strict", fault: str = "",
                 replies: bool = False):
        self.offload = offload
        self.log_path = log_path
        # --replies: the sides answer and forward (the batch's replies path) and what comes back to
        # the sender is captured; the receive device is eth0, the interface tests-py's nat rules name.
        self.replies = replies
        argv = [os.path.join(nfbpf_build, "bin", "nfbpf"), "verify", "--batch", f"--offload={offload}"]
        if replies:
            argv += ["--in-dev", "eth0"]
        if fault:
            argv.append(f"--test-fault={fault}")
        self.argv = argv
        self.proc: subprocess.Popen | None = None

    def open(self) -> None:
        log = open(self.log_path, "a", encoding="utf-8")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                     text=True, bufsize=1)
        log.close()
        hello = self._read()
        if not hello.get("ready"):
            raise RuntimeError(f"nfbpf verify --batch did not start: {hello.get('error', hello)}")
        self.daemon_log = hello.get("nfbpfd_log", "")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"nfbpf verify --batch exited (status {self.proc.poll()}; see {self.log_path})")
        return json.loads(line)

    def request(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.terminate()          # by PID; verify's children die with it (PDEATHSIG)
            self.proc.wait()
        self.proc = None


NAT_OR_REJECT = re.compile(r"\s*\b(dnat|snat|redirect|masquerade|reject)\b.*$")


def _with_replies(b: Batch, req: dict, rule: str | None = None, family: str = "") -> dict:
    """--replies: the request runs in the replies path with the frames coming back captured; probes
    that cannot be made fall back to a nat/reject rule's matches alone, then to the generic packets."""
    if not b.replies:
        return req
    req.update(path="replies", replies={}, generic_only_ok=True)
    if rule is not None:
        match = NAT_OR_REJECT.sub("", rule).strip()
        if match and match != rule.strip():
            req["probe_fallback"] = {"family": family, "rule": match}
    else:
        req["tolerate_probe_failures"] = True
    return req


def _compare_replies(r: dict, res: dict) -> bool:
    """The frames both sides sent back (replies.compare), summarised into res; True when equal."""
    if "replies" not in r:
        return True
    got = {"K": [bytes.fromhex(h) for h in r["replies"].get("kernel", [])],
           "N": [bytes.fromhex(h) for h in r["replies"].get("nfbpf", [])]}
    equal, summary = rp.compare(got)
    if r["replies"].get("truncated"):
        summary["truncated"] = True
    res["replies"] = summary
    return equal


def _placements(reply: dict) -> dict:
    return {(p["family"], p["table"], p["chain"]): (p["where"], bool(p.get("base")))
            for p in reply.get("placements", [])}


def _copy(reply: dict, res: dict, *keys: str) -> None:
    for k in keys:
        if k in reply:
            res[k] = reply[k]


def run_experiment(b: Batch, family: str, table: str, cmds: list[str], rule: str, max_elems: int) -> dict:
    res: dict = {"rule": rule}
    spec = ["add", "rule", family, table, "probe"]
    setup = {"stage": "setup", "stdin": "\n".join(cmds) + "\n"}
    # A rule without a verdict looks the same whether it matched or not (the packet falls through
    # either way): a counter is appended so that its matches are counted. Rules ending in a verdict
    # refuse the extra statement (the second alternative); their verdict shows in the other counters.
    the_rule = {"stage": "rule", "alternatives": [spec + [rule + " counter"], spec + [rule]]}
    tail = {"stage": "setup", "args": spec + ["counter"]}
    req = {"kind": "experiment", "load": [setup, the_rule, tail],
           "probes": [[family, table, "probe"]], "counters": [family, table],
           "sentinel": "ipv6" if family == "ip6" else "ipv4", "sentinel_key": "vhead#0.0", "arrival_key": "vhead#1.0",
           "max_set_elements": max_elems}
    if vd.SABOTAGE:
        # Self-test of the comparison: the nfbpf side's arrival counter skips TCP.
        bad = [c.replace(" vhead counter", " vhead meta l4proto != tcp counter") for c in cmds]
        req["nfbpf_load"] = [dict(setup, stdin="\n".join(bad) + "\n"), the_rule, tail]
    if vd.REPLIES_SABOTAGE:
        # Self-test of --replies: the nfbpf side rejects with another ICMP code (same counters).
        alt = [[w.replace("host-prohibited", "admin-prohibited") for w in a] for a in the_rule["alternatives"]]
        req["nfbpf_load"] = [setup, dict(the_rule, alternatives=alt), tail]
    _with_replies(b, req, rule, family)
    if b.offload == "hybrid":
        req["placement"] = [family, table, "probe"]
        req["placements"] = True
    r = b.request(req)
    st = r.get("status")
    if st == "kernel-refused":
        res["status"] = "kernel-setup-refused" if r.get("stage") == "setup" else "kernel-refused"
        res["detail"] = r.get("detail", "")
        return res
    if r.get("alternative") == 0:
        res["appended_counter"] = True
    res["status"] = st
    _copy(r, res, "detail", "placement", "generic_only", "rule_probes", "probes", "arrived", "kernel", "nfbpf",
          "differing_probes", "match_only_probes")
    if not _compare_replies(r, res) and st == "equal":
        res["status"] = "mismatch"
    if st == "refused":
        res["where"] = r.get("stage")
        if "vhead at netfilter" in res.get("detail", "") and "EBUSY" in res.get("detail", ""):
            # The harness's own chain cannot collide within one ruleset: an attach point the
            # previous case left behind. Report it, and start the next case on a fresh daemon.
            res["status"] = "harness-error"
            res["detail"] = "nfbpfd kept an attach point of an earlier ruleset: " + res["detail"]
            b.request({"kind": "restart"})
    if st in ("equal", "mismatch") and b.offload == "hybrid" and hasattr(vd, "_experiment_shares"):
        res["shares"] = vd._experiment_shares(res.get("placement", ""), res["arrived"], r["kernel"].get("probe#0.0"))
    if st == "error":
        res["status"] = "harness-error"
        res["detail"] = r.get("error", "")[:300]
    return res


def run_dump(b: Batch, path: str, max_elems: int) -> dict:
    res: dict = {"file": path}
    k = b.request({"kind": "kernel-list", "file": path})
    if k.get("status") != "ok":
        res["status"] = "kernel-refused" if k.get("status") == "kernel-refused" else "harness-error"
        res["detail"] = (k.get("detail") or k.get("error", "")).strip()[:300]
        return res
    conv = vd.dump_for_prerouting(k["listing"])
    if conv is None:
        res["status"] = "harness-error"
        res["detail"] = "more than 299 base chains of one IP family: not enough priorities between the sentinel chains"
        return res
    ruleset, tables = conv
    req = {"kind": "experiment", "load": [{"stage": "setup", "args": ["-j", "-f", "-"], "stdin": json.dumps(ruleset)}],
           "probes": [[fam, name, "*"] for fam, name in tables], "counters": "ruleset", "sentinel": "ipv4",
           "sentinel_key": vd.SENTINEL_KEY, "arrival_key": vd.ARRIVAL_KEY, "max_set_elements": max_elems}
    if b.offload == "hybrid":
        req["placements"] = True
    _with_replies(b, req)
    r = b.request(req)
    st = r.get("status")
    if st == "kernel-refused":
        res["status"] = "kernel-refused-prerouting"
        res["detail"] = r.get("detail", "")
        return res
    res["status"] = "harness-error" if st == "error" else st
    _copy(r, res, "detail", "rule_probes", "probes", "arrived", "differing_probes", "generic_only_tables")
    if not _compare_replies(r, res) and st == "equal":
        res["status"] = st = "mismatch"
    if st == "error":
        res["detail"] = r.get("error", "")[:300]
    if st not in ("equal", "mismatch"):
        return res
    dk, dn = r["kernel"], r.get("nfbpf", r["kernel"])
    res["rules_counted"] = sum(1 for k2, v in dk.items() if v[0] and vd.SENTINEL_TABLE not in k2)
    if b.offload == "hybrid" and hasattr(vd, "dump_shares"):
        res["shares"] = vd.dump_shares(_placements(r), dk, res["arrived"])
    if st == "mismatch":
        res["differing_counters"] = {k2: [dk.get(k2), dn.get(k2)] for k2 in sorted(set(dk) | set(dn))
                                     if dk.get(k2) != dn.get(k2)}
    return res
