"""Reads `nft -a list ruleset` output: which rules, chains and objects exist, with their handles.

Used to plan the tear-down of a loaded ruleset (delete every rule by handle, then chains, then sets
and other objects). Brace depth is tracked per line, so multi-line set bodies are skipped correctly.
"""
from __future__ import annotations

import dataclasses
import re

# Table-level blocks and the keyword `delete` takes for them. Longest keywords first.
OBJECT_KINDS = ("ct expectation", "ct helper", "ct timeout", "chain", "set", "map", "flowtable",
                "counter", "quota", "limit", "secmark", "synproxy")

_TABLE = re.compile(r"^table (\S+) (\S+) \{")
_HANDLE = re.compile(r"# handle (\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class Obj:
    kind: str
    family: str
    table: str
    name: str


@dataclasses.dataclass(frozen=True)
class Rule:
    family: str
    table: str
    chain: str
    handle: int


@dataclasses.dataclass
class Inventory:
    rules: list[Rule] = dataclasses.field(default_factory=list)
    objects: list[Obj] = dataclasses.field(default_factory=list)


def parse_handles(text: str) -> Inventory:
    inv = Inventory()
    depth = 0
    family = table = None
    chain: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if depth == 0:
            m = _TABLE.match(line)
            if m:
                family, table = m.group(1), m.group(2)
        elif depth == 1:
            chain = None
            for kind in OBJECT_KINDS:
                if line.startswith(kind + " ") and "{" in line:
                    name = line[len(kind) + 1:].split(" ", 1)[0]
                    inv.objects.append(Obj(kind, family, table, name))
                    if kind == "chain":
                        chain = name
                    break
        elif depth == 2 and chain is not None:
            m = _HANDLE.search(line)
            if m:
                inv.rules.append(Rule(family, table, chain, int(m.group(1))))
        depth += line.count("{") - line.count("}")
        depth = max(depth, 0)
    return inv


def teardown_commands(inv: Inventory) -> list[str]:
    """Rules by handle, then chains, then every other object; the caller ends with `flush ruleset`."""
    cmds = [f"delete rule {r.family} {r.table} {r.chain} handle {r.handle}" for r in inv.rules]
    cmds += [f"delete chain {o.family} {o.table} {o.name}" for o in inv.objects if o.kind == "chain"]
    cmds += [f"delete {o.kind} {o.family} {o.table} {o.name}" for o in inv.objects if o.kind != "chain"]
    return cmds
