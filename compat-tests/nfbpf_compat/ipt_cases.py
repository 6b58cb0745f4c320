"""iptables cases: every rule line of iptables 1.8.9's extension .t files and every file of its
save-dumps, for each front end (iptables-legacy through the x_tables sockopts, iptables-nft
through nf_tables + nft_compat) and each family the file is for.

A .t file (iptables-test.py's format): `:CHAIN,CHAIN` sets the chains, `*table` the table, and
each other line is `RULE;EXPECTED-LISTING;OK|FAIL[;LEGACY|NFT...]`. Only RULE matters here: the
kernel is the oracle, so each rule is run as is on every chain of its block, and the exit status
and the table's `-save` output are compared between the kernel and nfbpfd.
"""
from __future__ import annotations

import dataclasses
import os

SUITE_ROOT = "/work/shared/peer-suites/iptables-1.8.9"
FRONTENDS = ("legacy", "nft")
# --ci: these files (every front end and family): the extensions translate/ipt lowers plus a few
# stored-only ones, and both restore dumps (about a sixth of the cases, ~15 s).
CI_FILES = ("libxt_tcp.t", "libipt_icmp.t", "libip6t_icmp6.t", "libxt_comment.t",
            "libxt_conntrack.t", "libxt_limit.t", "libipt_LOG.t", "libxt_standard.t",
            "libxt_NFQUEUE.t", "libxt_quota.t", "libxt_CT.t", "iptables.dump", "ip6tables.dump")

# --ci compares the raw rule dump bytes (about 0.1 s per case) only for these: xt expressions
# whose kernel copy holds private state the dump must clear (usersize: quota, CT).
CI_RAW_DUMP_FILES = ("libxt_quota.t", "libxt_CT.t")


@dataclasses.dataclass
class IptCase:
    id: str          # "legacy/ip/libxt_tcp.t:2:INPUT"
    frontend: str    # legacy | nft
    family: str      # ip | ip6
    file: str        # base name
    kind: str        # rule | dump
    table: str = "filter"
    chain: str = ""
    rule: str = ""
    dump_path: str = ""

    @property
    def tool(self) -> str:
        return ("ip6tables" if self.family == "ip6" else "iptables") + "-" + self.frontend

    @property
    def group(self) -> str:
        return f"{self.frontend}/{self.family}"


def families_of(base: str) -> tuple[str, ...]:
    if base.startswith("libip6t_"):
        return ("ip6",)
    if base.startswith("libipt_") or base == "iptables.t":
        return ("ip",)
    if base.startswith("libxt_"):
        return ("ip", "ip6")
    return ()  # ebtables / arptables files


def parse_tfile(path: str, frontend: str, family: str) -> list[IptCase]:
    base = os.path.basename(path)
    table, chains, out = "filter", [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("*"):
                table = line[1:].strip()
            elif line.startswith(":"):
                chains = line[1:].split(",")
            else:
                rule = line.split(";")[0]
                for chain in chains:
                    out.append(IptCase(f"{frontend}/{family}/{base}:{n}:{chain}", frontend, family,
                                       base, "rule", table, chain, rule))
    return out


def dump_cases(root: str, frontend: str) -> list[IptCase]:
    out = []
    for d, _, files in os.walk(os.path.join(root, "save-dumps")):
        for name in sorted(files):
            family = "ip6" if "ip6" in name else "ip"
            out.append(IptCase(f"{frontend}/{family}/dump/{name}", frontend, family, name, "dump",
                               dump_path=os.path.join(d, name)))
    return out


def all_cases(root: str = SUITE_ROOT, frontends: tuple[str, ...] = FRONTENDS) -> list[IptCase]:
    ext = os.path.join(root, "extensions")
    out: list[IptCase] = []
    for fe in frontends:
        for base in sorted(os.listdir(ext)):
            if not base.endswith(".t"):
                continue
            for fam in families_of(base):
                out += parse_tfile(os.path.join(ext, base), fe, fam)
        out += dump_cases(root, fe)
    return out


def select(cases: list[IptCase], filters: list[str] | None, ci: bool) -> list[IptCase]:
    if ci:
        cases = [c for c in cases if c.file in CI_FILES]
    if filters:
        cases = [c for c in cases if any(p in c.id for p in filters)]
    return cases
