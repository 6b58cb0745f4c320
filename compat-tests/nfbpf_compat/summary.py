"""Aggregates verdicts per group and applies the CI gate."""
from __future__ import annotations

import collections
import dataclasses
import json

from . import compare as cmp


@dataclasses.dataclass
class GroupStats:
    cases: int = 0
    kernel_accepted: int = 0
    kernel_refused: int = 0
    expectation_checked: int = 0
    expectation_agrees: int = 0
    nfbpf_run: int = 0
    identical: int = 0
    accepted_identical: int = 0
    refused_identical: int = 0
    categories: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add(self, v: cmp.Verdict, nfbpf_ran: bool) -> None:
        self.cases += 1
        if v.kernel_accepted is True:
            self.kernel_accepted += 1
        elif v.kernel_accepted is False:
            self.kernel_refused += 1
        if v.expectation_agrees is not None:
            self.expectation_checked += 1
            self.expectation_agrees += int(v.expectation_agrees)
        if nfbpf_ran:
            self.nfbpf_run += 1
            if v.identical:
                self.identical += 1
                if v.kernel_accepted is True:
                    self.accepted_identical += 1
                elif v.kernel_accepted is False:
                    self.refused_identical += 1
            self.categories.update(v.categories)


def group_stats(verdicts: list[cmp.Verdict], nfbpf_ran: bool) -> dict[str, GroupStats]:
    groups: dict[str, GroupStats] = collections.OrderedDict()
    total = GroupStats()
    for v in sorted(verdicts, key=lambda v: v.group):
        groups.setdefault(v.group, GroupStats()).add(v, nfbpf_ran)
        total.add(v, nfbpf_ran)
    groups["total"] = total
    return groups


@dataclasses.dataclass
class GateResult:
    applied: bool
    failures: list[str]
    measures: dict[str, float]
    regressions: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_gate(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_baseline(path: str) -> set[str] | None:
    """Ids of cases that were identical when the baseline was last updated (None: no baseline)."""
    try:
        with open(path, encoding="utf-8") as f:
            return {line.strip() for line in f if line.strip() and not line.startswith("#")}
    except FileNotFoundError:
        return None


def updated_baseline(old: set[str] | None, verdicts: list[cmp.Verdict]) -> list[str]:
    """The baseline after this run: cases that ran take their new state, the others keep theirs."""
    ran = {v.id for v in verdicts}
    keep = {i for i in (old or set()) if i not in ran}
    return sorted(keep | {v.id for v in verdicts if v.identical})


def apply_gate(verdicts: list[cmp.Verdict], nfbpf_ran: bool, gate: dict,
               baseline: set[str] | None = None) -> GateResult:
    """The gate (documented in docs/compat.md):
      1. false accepts: cases the kernel refuses but nfbpf accepts   <= max_false_accepts
      2. kernel-accepted cases (plus every monitor and command-script case) that differ in any
         way, as a share of them                                      <= max_accepted_diff_ratio
      3. kernel-refused cases that differ (status, error text, state), as a share of them
                                                                      <= max_refused_diff_ratio
      4. cases during which nfbpfd died or an nft hung                <= max_daemon_deaths
      5. with a baseline file: cases identical in the baseline that now differ
                                                                      <= max_regressions
    """
    if not nfbpf_ran:
        return GateResult(False, [], {})
    accepted = [v for v in verdicts if v.kernel_accepted is not False]
    refused = [v for v in verdicts if v.kernel_accepted is False]
    false_accepts = sum(cmp.FALSE_ACCEPT in v.categories for v in verdicts)
    acc_diff = sum(not v.identical for v in accepted) / max(1, len(accepted))
    ref_diff = sum(not v.identical for v in refused) / max(1, len(refused))
    deaths = sum(cmp.DAEMON in v.categories or cmp.HANG in v.categories for v in verdicts)
    regressions = sorted(v.id for v in verdicts if baseline and v.id in baseline and not v.identical)
    m = {"false_accepts": false_accepts, "accepted_diff_ratio": acc_diff,
         "refused_diff_ratio": ref_diff, "daemon_deaths": deaths,
         "regressions": len(regressions) if baseline is not None else None}
    failures = []
    if false_accepts > gate["max_false_accepts"]:
        failures.append(f"{false_accepts} case(s) accepted that the kernel refuses "
                        f"(max {gate['max_false_accepts']})")
    if acc_diff > gate["max_accepted_diff_ratio"]:
        failures.append(f"{acc_diff:.1%} of kernel-accepted cases differ "
                        f"(max {gate['max_accepted_diff_ratio']:.1%})")
    if ref_diff > gate["max_refused_diff_ratio"]:
        failures.append(f"{ref_diff:.1%} of kernel-refused cases differ "
                        f"(max {gate['max_refused_diff_ratio']:.1%})")
    if deaths > gate["max_daemon_deaths"]:
        failures.append(f"nfbpfd died or hung in {deaths} case(s) (max {gate['max_daemon_deaths']})")
    if baseline is not None and len(regressions) > gate.get("max_regressions", 0):
        failures.append(f"{len(regressions)} case(s) identical in the baseline now differ "
                        f"(max {gate.get('max_regressions', 0)}): {', '.join(regressions[:5])}"
                        + (" …" if len(regressions) > 5 else ""))
    return GateResult(True, failures, m, regressions)
