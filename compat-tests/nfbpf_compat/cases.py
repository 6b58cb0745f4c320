"""Case loader: turns the peer suites (and the monitor scripts) into JSON-able case dicts.

Each case has an `id` (stable, used for filtering, sampling and comparison), a `group` (the
directory it is reported under) and a `kind` the worker knows how to run.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os

from . import tfile
from .command_scripts import SCRIPT_CASES
from .monitor_scripts import MONITOR_CASES

SUITE_ROOT = "/work/shared/peer-suites/nftables-1.0.6"
TESTS_PY_DIRS = ("any", "ip", "ip6", "inet")
TESTS_PY_FAMILIES = frozenset({"ip", "ip6", "inet"})
# --ci keeps every shell dump, monitor and command script and 1 in CI_SAMPLE_MOD tests-py cases.
CI_SAMPLE_MOD = 4


def tests_py_cases(root: str) -> list[dict]:
    out = []
    base = os.path.join(root, "tests-py")
    for d in TESTS_PY_DIRS:
        for name in sorted(os.listdir(os.path.join(base, d))):
            if not name.endswith(".t"):
                continue
            parsed = tfile.parse_file(base, f"{d}/{name}", TESTS_PY_FAMILIES)
            for c in parsed.cases:
                out.append({"id": c.case_id, "group": f"tests-py/{d}", "kind": "rule",
                            "setup": list(c.setup), "command": c.add_command,
                            "expect": c.expect, "expected_output": c.expected_output})
    return out


def dump_cases(root: str) -> list[dict]:
    out = []
    base = os.path.join(root, "shell-dumps")
    for dirpath, _dirs, files in sorted(os.walk(base)):
        for name in sorted(files):
            if name.endswith(".nft"):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                top = os.path.relpath(path, base).split(os.sep)[0]
                out.append({"id": rel, "group": f"shell-dumps/{top}", "kind": "dump", "file": path})
    return out


def monitor_cases() -> list[dict]:
    return [dict(c, group="monitor", kind="monitor") for c in MONITOR_CASES]


def script_cases() -> list[dict]:
    return [dict(c, group="commands", kind="script") for c in SCRIPT_CASES]


def all_cases(root: str = SUITE_ROOT) -> list[dict]:
    return tests_py_cases(root) + dump_cases(root) + monitor_cases() + script_cases()


def in_ci_sample(case: dict) -> bool:
    """Deterministic: the same cases every run, spread over every file and family."""
    if case["kind"] != "rule":
        return True
    digest = hashlib.sha1(case["id"].encode()).digest()
    return digest[0] % CI_SAMPLE_MOD == 0


def select(cases: list[dict], filters: list[str] | None, ci: bool) -> list[dict]:
    """`filters`: substrings or shell globs matched against the case id (any one suffices)."""
    def wanted(c: dict) -> bool:
        if ci and not in_ci_sample(c):
            return False
        if not filters:
            return True
        return any(f in c["id"] or fnmatch.fnmatch(c["id"], f) for f in filters)
    return [c for c in cases if wanted(c)]
