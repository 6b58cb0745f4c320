"""Scripted sequences watched by `nft monitor` (one case per monitor form).

The sequence touches every object kind the monitor reports (tables, chains, rules, sets, elements,
stateful objects, separately) with single commands and with a batch, then takes it all apart. No flowtable: this kernel has no nf_flow_table (ENOENT).
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
    {"file": _BATCH},
    "flush chain ip mt c",
    "delete chain ip mt c",
    "delete set ip mt s",
    "flush table ip mt",
    "delete table ip mt",
    "add table ip mt",
    "create table ip mt",       # refused (exists): must produce no event
    "flush ruleset",
]

# Stateful objects apart, so a missing object kind does not hide how the core sequence is reported.
_OBJECTS = [
    "add table ip mo",
    "add counter ip mo cnt",
    "add quota ip mo q { over 10 mbytes }",
    "add limit ip mo l { rate 10/second }",
    "add chain ip mo c",
    "add rule ip mo c counter name cnt",
    "reset counters table ip mo",
    "delete rule ip mo c handle 5",       # handles: cnt=1, q=2, l=3, c=4, rule=5
    "delete counter ip mo cnt",
    "delete quota ip mo q",
    "delete limit ip mo l",
    "delete table ip mo",
]

# Element updates and a chain rename: what the kernel announces for each (nothing for a
# re-add that changes nothing, NEWSETELEM for a new timeout, NEWCHAIN with the new name).
_UPDATES = [
    "add table ip mu",
    "add set ip mu t { type ipv4_addr; flags timeout; timeout 1h; }",
    "add element ip mu t { 2.2.2.2 }",
    "add element ip mu t { 2.2.2.2 }",
    "add element ip mu t { 2.2.2.2 timeout 10m }",
    "add set ip mu s { type ipv4_addr; }",
    "add element ip mu s { 1.1.1.1 }",
    "add element ip mu s { 1.1.1.1, 5.5.5.5 }",
    "add chain ip mu c",
    "rename chain ip mu c c2",
    "add table ip mu { flags dormant; }",
    "add table ip mu",
    "delete table ip mu",
    "add table ip own { flags owner; }",      # announced; its release when nft exits is not
    "add table ip after",
    "delete table ip after",
]

MONITOR_CASES = [
    {"id": "monitor/plain", "monitor": ["monitor"], "commands": _SEQUENCE},
    {"id": "monitor/json", "monitor": ["-j", "monitor"], "commands": _SEQUENCE},
    {"id": "monitor/rules-only", "monitor": ["monitor", "rules"], "commands": _SEQUENCE},
    {"id": "monitor/new-only", "monitor": ["monitor", "new"], "commands": _SEQUENCE},
    {"id": "monitor/objects", "monitor": ["monitor"], "commands": _OBJECTS},
    {"id": "monitor/objects-json", "monitor": ["-j", "monitor"], "commands": _OBJECTS},
    {"id": "monitor/updates", "monitor": ["monitor"], "commands": _UPDATES},
]
