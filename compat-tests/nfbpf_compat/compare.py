"""Compares one case's results across engines and classifies the outcome.

The kernel is the oracle. For each case the "key step" decides acceptance: the `add rule` for a
tests-py case, the `nft -f` load for a shell dump. Monitor cases have no key step; every command's
status and the monitor's output are compared.
"""
from __future__ import annotations

import dataclasses
import re

from .normalize import normalize_stdout

KEY_STEP = {"rule": "rule", "dump": "load"}

# Difference categories, most serious first.
FALSE_ACCEPT = "accepts what the kernel refuses"
FALSE_REFUSE = "refuses what the kernel accepts"
DAEMON = "daemon died"
HANG = "nft timed out"
RESET = "flush ruleset refused after the case"
HARNESS = "harness error"
STEPS = "different steps"
STATUS = "exit status"
LISTING = "listing"
ERROR_TEXT = "error text"
OUTPUT = "other output"
CATEGORIES = (FALSE_ACCEPT, FALSE_REFUSE, DAEMON, HANG, RESET, HARNESS, STEPS, STATUS, LISTING, ERROR_TEXT, OUTPUT)


@dataclasses.dataclass
class Difference:
    step: str
    field: str
    kernel: str
    nfbpf: str


@dataclasses.dataclass
class Verdict:
    id: str
    group: str
    kind: str
    kernel_accepted: bool | None
    expectation_agrees: bool | None       # kernel outcome == the .t file's ok/fail (tests-py only)
    nfbpf_accepted: bool | None = None
    categories: list[str] = dataclasses.field(default_factory=list)
    first_difference: Difference | None = None
    first_step: list[Difference] = dataclasses.field(default_factory=list)   # all fields that differ there
    differing_steps: int = 0

    @property
    def identical(self) -> bool:
        return not self.categories

    @property
    def signature(self) -> str:
        """A short description of the first difference with numbers and names blurred, so cases
        failing for the same reason group together in the report."""
        d = self.first_difference
        if d is None:
            return "; ".join(self.categories)
        step = _step_kind(d.step)
        if d.field != "stdout" and d.field != "stderr":
            return f"{step}: {d.field} kernel {d.kernel} / nfbpf {d.nfbpf}"
        k, n = _first_differing_line(d.kernel, d.nfbpf)
        return f"{step} {d.field}: kernel «{_blur(k)}» / nfbpf «{_blur(n)}»"


def _key_rc(kind: str, result: dict | None) -> bool | None:
    step = KEY_STEP.get(kind)
    if step is None or not result:
        return None
    for s in result["steps"]:
        if s["name"] == step:
            return s["rc"] == 0
    return None


def _is_listing(cmd: str) -> bool:
    return cmd.endswith("list ruleset")


def compare(case: dict, kernel: dict, nfbpf: dict | None) -> Verdict:
    kind = case["kind"]
    k_ok = _key_rc(kind, kernel)
    agrees = None
    if kind == "rule" and k_ok is not None:
        agrees = k_ok == (case["expect"] == "ok")
    v = Verdict(case["id"], case["group"], kind, k_ok, agrees)
    if nfbpf is None:
        return v
    v.nfbpf_accepted = _key_rc(kind, nfbpf)
    cats: set[str] = set()
    if k_ok is False and v.nfbpf_accepted:
        cats.add(FALSE_ACCEPT)
    if k_ok and v.nfbpf_accepted is False:
        cats.add(FALSE_REFUSE)
    if any(n.startswith("nfbpfd died") for n in nfbpf.get("notes", [])):
        cats.add(DAEMON)
    if any(n.startswith("nft timed out") for n in nfbpf.get("notes", [])):
        cats.add(HANG)
    if any(n.startswith("flush ruleset refused") for n in nfbpf.get("notes", [])):
        cats.add(RESET)
    if any(n.startswith(("harness error", "worker died", "bypassed nfbpfd")) for r in (kernel, nfbpf)
           for n in r.get("notes", [])):
        cats.add(HARNESS)

    ks, ns = kernel["steps"], nfbpf["steps"]
    if [s["name"] for s in ks] != [s["name"] for s in ns]:
        cats.add(STEPS)
    for k, n in pair_steps(ks, ns):
        if n is None:
            _note(v, Difference(k["name"], "missing", k["cmd"], "(step not run)"))
            continue
        found = []
        if k["rc"] != n["rc"]:
            found.append((STATUS, "exit status", str(k["rc"]), str(n["rc"])))
        if k["stderr"] != n["stderr"]:
            found.append((ERROR_TEXT, "stderr", k["stderr"], n["stderr"]))
        ko = normalize_stdout(k["name"], k["cmd"], k["stdout"])
        no = normalize_stdout(n["name"], n["cmd"], n["stdout"])
        if ko != no:
            found.append((LISTING if _is_listing(k["cmd"]) else OUTPUT, "stdout", ko, no))
        if found:
            v.differing_steps += 1
            diffs = [Difference(k["name"], fld, kv, nv) for _cat, fld, kv, nv in found]
            cats.update(cat for cat, *_ in found)
            if not v.first_step:
                v.first_step = diffs
            _note(v, diffs[0])
    v.categories = [c for c in CATEGORIES if c in cats]
    return v


def pair_steps(ks: list[dict], ns: list[dict]) -> list[tuple[dict, dict | None]]:
    """Each kernel step with the nfbpf step of the same name, in order (names may repeat, e.g.
    `flush` when a refused setup batch is retried one command at a time)."""
    unused: dict[str, list[dict]] = {}
    for n in ns:
        unused.setdefault(n["name"], []).append(n)
    return [(k, unused[k["name"]].pop(0) if unused.get(k["name"]) else None) for k in ks]


def _note(v: Verdict, d: Difference) -> None:
    if v.first_difference is None:
        v.first_difference = d


def _step_kind(name: str) -> str:
    words = name.replace(":", "").split(" ")
    if words[0] in ("delete", "list") and "after" not in words:
        return " ".join(words[:2])
    if "after" in words:
        return "list -a after " + " ".join(words[words.index("after") + 1:][:2])
    return re.sub(r"\[\d+\]", "[i]", name)


def _first_differing_line(a: str, b: str) -> tuple[str, str]:
    al, bl = a.split("\n"), b.split("\n")
    for i in range(max(len(al), len(bl))):
        x = al[i] if i < len(al) else "(end)"
        y = bl[i] if i < len(bl) else "(end)"
        if x != y:
            return _trim_common_prefix(x, y)
    return "", ""


def _trim_common_prefix(x: str, y: str, keep: int = 24) -> tuple[str, str]:
    """Long lines that agree for a while (error positions, file paths) are shown from just
    before the point where they part."""
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    if n <= keep + 16:
        return x, y
    return "…" + x[n - keep:], "…" + y[n - keep:]


def _blur(text: str, limit: int = 90) -> str:
    text = re.sub(r"\d+", "#", text.strip())
    return text if len(text) <= limit else text[:limit] + "…"
