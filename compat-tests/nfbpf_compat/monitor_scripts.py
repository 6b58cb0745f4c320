"""Scripted sequences watched by `nft monitor` (one case per monitor form).

The sequence touches every object kind the monitor reports (tables, chains, rules, sets, elements,
stateful objects) with single commands and with a batch, then takes it all apart. No flowtable: this kernel has no nf_flow_table (ENOENT).
"""
from __future__ import annotations

_BATCH = """\
table inet mb {
\tset s4 { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.1.1 } }
\tmap vm { type inet_service : verdict; elements = { 22 : accept } }
\tchain in { type filter hook input priority 0; policy accept;
\t\ttcp dport @vm counter
\t\tip saddr @s4 drop
\t}
}
"""

_SEQUENCE = [
    "add table ip mt",
    "add chain ip mt c",
    "add chain ip mt base { type filter hook input priority 0; policy drop; }",
    "add rule ip mt base ip saddr 1.2.3.4 counter accept",
    "add rule ip mt base jump c",
    "insert rule ip mt base tcp dport 22 accept",
    "add set ip mt s { type ipv4_addr; }",
    "add element ip mt s { 10.1.1.1, 10.1.1.2 }",
    "add rule ip mt c ip daddr @s drop",
    "delete element ip mt s { 10.1.1.1 }",
    "delete rule ip mt base handle 3",   # handles: c=1, base=2, first rule=3
    "add counter ip mt cnt",
    "add quota ip mt q { over 10 mbytes }",
    {"file": _BATCH},
    "flush chain ip mt c",
    "delete chain ip mt c",
    "delete set ip mt s",
    "delete counter ip mt cnt",
    "delete quota ip mt q",
    "flush table ip mt",
    "delete table ip mt",
    "add table ip mt",
    "create table ip mt",       # refused (exists): must produce no event
    "flush ruleset",
]

MONITOR_CASES = [
    {"id": "monitor/plain", "monitor": ["monitor"], "commands": _SEQUENCE},
    {"id": "monitor/json", "monitor": ["-j", "monitor"], "commands": _SEQUENCE},
    {"id": "monitor/rules-only", "monitor": ["monitor", "rules"], "commands": _SEQUENCE},
    {"id": "monitor/new-only", "monitor": ["monitor", "new"], "commands": _SEQUENCE},
]
