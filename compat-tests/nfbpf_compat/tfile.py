"""Parser for nftables' tests/py `.t` files.

Mirrors the semantics of upstream tests/py/nft-test.py (read for reference, not copied):
  `:name;config`            declares a chain (global to the file; the first declaration of a name wins)
  `*family;table;c1,c2`     declares a table holding the named chains
  `!name type T [. T2] [timeout X] [flags F];ok|fail`   adds a set to every table declared so far
  `?name e1,e2;ok|fail`     adds elements to that set in every table declared so far
  `%name type ...;ok|fail`  adds a stateful object to every table declared so far
  `rule;ok` / `rule;fail` / `rule;ok;expected listing`  one rule, tried in every table x chain
  `- rule;ok`               a known-broken line: skipped (upstream runs it only with --need-fix)
  `#...` and blank lines    comments
A rule is added after `flush table`, so each (rule, table, chain) sees exactly the sets, elements and
objects declared above it. Every such triple becomes one RuleCase with its own setup commands.
"""
from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Chain:
    name: str
    config: str          # e.g. "type filter hook input priority 0"; empty for a regular chain


@dataclasses.dataclass
class Table:
    family: str
    name: str
    chains: list[Chain]
    # setup commands (without the table/chain creation) accumulated from ! ? % lines, in file order
    extras: list[str] = dataclasses.field(default_factory=list)

    @property
    def spec(self) -> str:
        return f"{self.family} {self.name}"


@dataclasses.dataclass(frozen=True)
class RuleCase:
    path: str            # path of the .t file relative to the tests-py root, e.g. "ip/ip.t"
    lineno: int          # 1-based line of the rule in that file
    family: str
    table: str
    chain: str
    rule: str
    expect: str          # "ok" or "fail" as written in the file
    expected_output: str | None   # third field: how nft lists the rule, when it differs from the input
    setup: tuple[str, ...]        # nft commands creating table, chains, sets, elements, objects

    @property
    def case_id(self) -> str:
        return f"tests-py/{self.path}:{self.lineno}:{self.family}:{self.table}:{self.chain}"

    @property
    def add_command(self) -> str:
        return f"add rule {self.family} {self.table} {self.chain} {self.rule}"


@dataclasses.dataclass
class ParsedFile:
    path: str
    cases: list[RuleCase]
    skipped_broken: int       # "-" lines
    malformed: list[int]      # line numbers upstream would warn about and skip


def _set_command(table: Table, body: str) -> str:
    """`!name type T [. T2 ...] [timeout X] [flags F]` -> `add set ...`, as nft-test.py builds it."""
    tokens = body.split(" ")
    name, set_type = tokens[0], tokens[2]
    i = 3
    while len(tokens) > i and tokens[i] == ".":
        set_type += " . " + tokens[i + 1]
        i += 2
    timeout = ""
    if len(tokens) == i + 2 and tokens[i] == "timeout":
        timeout = "timeout " + tokens[i + 1] + ";"
        i += 2
    flags = ""
    if len(tokens) == i + 2 and tokens[i] == "flags":
        flags = "flags " + tokens[i + 1] + "; "
    return f"add set {table.spec} {name} {{ type {set_type};{timeout} {flags}}}"


def _object_command(table: Table, body: str) -> str:
    """`%name type counter` / `%name type ct helper { ... }` -> `add <type> <table> <name> <spec>`."""
    tokens = body.split(" ")
    name, obj_type = tokens[0], tokens[2]
    rest = tokens[3:]
    if obj_type == "ct" and rest and rest[0] in ("helper", "timeout", "expectation"):
        obj_type = "ct " + rest[0]
        rest = [""] + rest[1:]
    spec = " ".join(rest)
    return f"add {obj_type} {table.spec} {name} {spec}"


def _split_object_line(text: str) -> tuple[str, str]:
    # An object spec may contain ';' inside braces: the verdict follows the last '}'.
    brace = text.rfind("}")
    if brace < 0:
        parts = text.split(";")
        return parts[0], parts[1] if len(parts) > 1 else ""
    return text[:brace + 1], text[brace + 2:]


def parse_text(text: str, path: str, families: frozenset[str] | None = None) -> ParsedFile:
    """Parse one .t file. `families` keeps only tables of those families (None keeps all)."""
    chains: list[Chain] = []
    tables: list[Table] = []
    cases: list[RuleCase] = []
    broken = 0
    malformed: list[int] = []

    def chain_by_name(name: str) -> Chain:
        for c in chains:
            if c.name == name:
                return c
        raise ValueError(f"{path}: table uses undeclared chain {name!r}")

    for index, raw in enumerate(text.splitlines()):
        lineno = index + 1
        if not raw.strip() or raw.startswith("#"):
            continue
        line = raw.rstrip()
        kind = line[0]
        if kind == ":":
            name, _, config = line[1:].partition(";")
            chains.append(Chain(name, config))
        elif kind == "*":
            family, name, chain_list = line[1:].split(";")[:3]
            tables.append(Table(family, name, [chain_by_name(c) for c in chain_list.split(",")]))
        elif kind == "!":
            body, _, state = line[1:].partition(";")
            if state == "ok":
                for t in tables:
                    t.extras.append(_set_command(t, body))
        elif kind == "?":
            body, _, state = line[1:].partition(";")
            set_name, _, elements = body.partition(" ")
            if state == "ok":
                joined = ", ".join(elements.split(","))
                for t in tables:
                    t.extras.append(f"add element {t.spec} {set_name} {{ {joined} }}")
        elif kind == "%":
            body, state = _split_object_line(line[1:])
            if state.strip() == "ok":
                for t in tables:
                    t.extras.append(_object_command(t, body))
        else:
            fields = raw.rstrip("\n").split(";")
            if len(fields) == 1 or len(fields) > 3 or fields[1].rstrip() not in ("ok", "fail"):
                malformed.append(lineno)
                continue
            if kind == "-":
                broken += 1
                continue
            rule = fields[0]
            expect = fields[1].rstrip()
            expected_output = fields[2].rstrip() if len(fields) == 3 else None
            for t in tables:
                if families is not None and t.family not in families:
                    continue
                setup = _table_setup(t)
                for c in t.chains:
                    cases.append(RuleCase(path, lineno, t.family, t.name, c.name, rule, expect,
                                          expected_output, setup))
    return ParsedFile(path, cases, broken, malformed)


def _table_setup(t: Table) -> tuple[str, ...]:
    cmds = [f"add table {t.spec}"]
    for c in t.chains:
        cmds.append(f"add chain {t.spec} {c.name}" + (f" {{ {c.config}; }}" if c.config else ""))
    cmds.extend(t.extras)
    return tuple(cmds)


def parse_file(root: str, relpath: str, families: frozenset[str] | None = None) -> ParsedFile:
    with open(os.path.join(root, relpath), encoding="utf-8") as f:
        return parse_text(f.read(), relpath, families)
