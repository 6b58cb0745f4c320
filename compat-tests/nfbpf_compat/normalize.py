"""Removes what legitimately differs between two runs before outputs are compared.

Only history-dependent numbers are rewritten, never content:
  - table handles: the kernel numbers tables per namespace for its whole life (a flush does not
    reset the counter), so they depend on which cases ran before in that worker. They are
    renumbered in order of appearance. Chain, rule, set and object handles are per table and are
    compared as they are.
  - `nft monitor`: generation ids (renumbered from the first one seen) and the PIDs of nft.
"""
from __future__ import annotations

import json
import re

_TABLE_HANDLE = re.compile(r"^(table \S+ \S+ \{ # handle )(\d+)$", re.M)
_GENERATION = re.compile(r"^# new generation (\d+) by process (\d+) \((.*)\)$", re.M)


def _renumber_text_tables(text: str) -> str:
    seen: dict[str, int] = {}

    def sub(m: re.Match) -> str:
        n = seen.setdefault(m.group(2), len(seen) + 1)
        return f"{m.group(1)}T{n}"
    return _TABLE_HANDLE.sub(sub, text)


def _renumber_json_tables(text: str, seen: dict | None = None) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return text       # not JSON (an error, a truncated dump): compare verbatim
    seen = {} if seen is None else seen

    def walk(node) -> None:
        # A table object is {"table": {..., "handle": N}}: in `list -j` under "nftables", in
        # `monitor -j` under "add"/"delete". Rules name their table by string and are left alone.
        if isinstance(node, dict):
            table = node.get("table")
            if isinstance(table, dict) and "handle" in table:
                table["handle"] = f"T{seen.setdefault(table['handle'], len(seen) + 1)}"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(doc)
    return json.dumps(doc)


def _renumber_generations(text: str) -> str:
    first: list[int] = []

    def sub(m: re.Match) -> str:
        gen = int(m.group(1))
        if not first:
            first.append(gen)
        return f"# new generation G+{gen - first[0]} by process PID ({m.group(3)})"
    return _GENERATION.sub(sub, text)


def _renumber_json_monitor(text: str) -> str:
    # `nft -j monitor` prints one JSON document per line.
    seen: dict = {}       # one numbering across the whole stream
    return "\n".join(_renumber_json_tables(line, seen) if line.startswith("{") else line
                      for line in text.split("\n"))


def normalize_stdout(step_name: str, cmd: str, text: str) -> str:
    if step_name == "monitor output":
        text = _renumber_generations(text)
        return _renumber_json_monitor(text) if " -j " in f" {cmd} " else _renumber_text_tables(text)
    if step_name.endswith("list -j"):
        return _renumber_json_tables(text)
    return _renumber_text_tables(text)
