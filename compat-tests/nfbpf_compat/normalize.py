"""Removes what legitimately differs between two runs before outputs are compared.

Only history- or clock-dependent values are rewritten, never content:
  - table handles: the kernel numbers tables per namespace for its whole life (a flush does not
    reset the counter), so they depend on which cases ran before in that worker. They are
    renumbered in order of appearance (T1, T2, ...). Chain, rule, set and object handles are per
    table and are compared as they are.
  - set element `expires` times: they count down while the case runs.
  - `nft monitor` and `nft -e`: generation ids (renumbered from the first one seen in that
    output) and the PIDs of nft.
  - nft 1.0.6 bug: `nft -j` prints a table with a single flag (`dormant`) from freed memory
    (json.c table_flags_json: json_unpack "[o]" borrows, then the array is freed), so the value is
    garbage and the JSON may be cut short anywhere after it. The output is cut at that value (so
    the rest of such a listing is not compared; it only happens for dormant tables).
All rewriting is textual, so truncated or invalid output is normalised the same way as good output.
"""
from __future__ import annotations

import re

# `table ip t { # handle 4` in listings; `add table ip t # handle 4` from `nft -e -a` and monitors.
_TEXT_TABLE_HANDLE = re.compile(
    r"^(table \S+ \S+ \{ # handle |(?:add|delete) table \S+ \S+ (?:\{ )?# handle )(\d+)(?= |$)", re.M)
# nft prints table objects with keys in this order, in `list -j` and in `monitor -j`.
_JSON_TABLE_HANDLE = re.compile(r'(\{"table": \{"family": "\w+", "name": "(?:[^"\\]|\\.)*", "handle": )(\d+)')
_JSON_TABLE_SINGLE_FLAG = re.compile(
    r'(\{"table": \{"family": "\w+", "name": "(?:[^"\\]|\\.)*", "handle": "T\d+", "flags": )(?!\[)')
_TEXT_EXPIRES = re.compile(r"\bexpires [0-9dhms]+")
_JSON_EXPIRES = re.compile(r'"expires": \d+')
_GENERATION = re.compile(r"^# new generation (\d+) by process (\d+) \((.*)\)$", re.M)


def _renumberer():
    seen: dict[str, int] = {}

    def sub(m: re.Match, quote: str) -> str:
        n = seen.setdefault(m.group(2), len(seen) + 1)
        return f"{m.group(1)}{quote}T{n}{quote}"
    return sub


def _normalize_text(text: str) -> str:
    sub = _renumberer()
    text = _TEXT_TABLE_HANDLE.sub(lambda m: sub(m, ""), text)
    return _TEXT_EXPIRES.sub("expires <T>", text)


def _normalize_json(text: str) -> str:
    sub = _renumberer()
    text = _JSON_TABLE_HANDLE.sub(lambda m: sub(m, '"'), text)
    m = _JSON_TABLE_SINGLE_FLAG.search(text)
    if m:
        text = text[:m.end()] + "<nft-1.0.6-freed-memory: rest not compared>"
    return _JSON_EXPIRES.sub('"expires": "<T>"', text)


def _renumber_generations(text: str) -> str:
    first: list[int] = []

    def sub(m: re.Match) -> str:
        gen = int(m.group(1))
        if not first:
            first.append(gen)
        return f"# new generation G+{gen - first[0]} by process PID ({m.group(3)})"
    return _GENERATION.sub(sub, text)


def normalize_stdout(step_name: str, cmd: str, text: str) -> str:
    json_output = " -j " in f" {cmd} "
    text = _renumber_generations(text)          # `nft monitor` and `nft -e` print them
    return _normalize_json(text) if json_output else _normalize_text(text)
