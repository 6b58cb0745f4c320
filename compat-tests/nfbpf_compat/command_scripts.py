"""Scripted command sequences beyond `add rule` + `list ruleset`: partial listings and output
modes, echo (`-e`), check mode (`-c`), rename/flush/reset, and errors the kernel reports
(ENOENT, EEXIST, EBUSY, ELOOP, ...). Each command is one step; every step is compared.

A step is an nft command line (one argument, as a user would type it), a list of nft arguments
(options first), or {"file": text} for one `nft -f -` batch.
"""
from __future__ import annotations

_RULESET = """\
table ip mt {
\tset s { type ipv4_addr; elements = { 10.1.1.1, 10.1.1.2 } }
\tmap m { type inet_service : ipv4_addr; elements = { 80 : 10.0.0.1 } }
\tchain c { ip daddr @s counter drop; }
\tchain base { type filter hook input priority 0; policy accept;
\t\ttcp dport 22 accept
\t\tjump c
\t}
}
table inet mb {
\tset s4 { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.1.1 } }
\tmap vm { type inet_service : verdict; elements = { 22 : accept } }
\tchain in { type filter hook input priority -10; policy drop;
\t\tct state established,related accept
\t\ttcp dport @vm counter
\t\tip saddr @s4 drop
\t}
}
table ip6 six {
\tchain out { type filter hook output priority 0; meta l4proto ipv6-icmp accept; }
}
"""

_LISTINGS = [
    "list tables", "list tables ip", "list table inet mb", "list table ip6 six",
    "list chains", "list chain inet mb in", "list chains ip",
    "list sets", "list set inet mb s4", "list maps", "list map ip mt m",
    "list ruleset ip6", "list ruleset inet",
    ["-n", "list ruleset"], ["-s", "list ruleset"], ["-t", "list ruleset"], ["-y", "list ruleset"],
    ["-a", "list table ip mt"], ["-j", "list tables"], ["-j", "list set inet mb s4"],
    ["-a", "-j", "list chain ip mt base"],
    "list table ip nosuch", "list chain ip mt nosuch", "list set ip mt nosuch",
    "list map inet mb s4", "list table arp nosuch",
]

_ECHO = [
    ["-e", "-a", "add table ip e"],
    ["-e", "-a", "add chain ip e c"],
    ["-e", "-a", "add chain ip e base { type filter hook output priority 0; policy accept; }"],
    ["-e", "-a", "add rule ip e c tcp dport 22 accept"],
    ["-e", "-a", "insert rule ip e c udp dport 53 accept"],
    ["-e", "-a", "add rule ip e c position 3 ip saddr 1.1.1.1 drop"],
    ["-e", "-a", "replace rule ip e c handle 3 tcp dport 23 accept"],
    ["-e", "-a", "add set ip e s { type ipv4_addr; }"],
    ["-e", "-a", "add element ip e s { 1.1.1.1, 2.2.2.2 }"],
    ["-e", "-j", "add rule ip e base jump c"],
    {"file": "table ip e2 {\n\tchain x { counter; }\n}\n"},
    ["-e", "-a", "-f", "/dev/null"],
    ["-a", "list ruleset"],
]

_CHECK_MODE = [
    ["-c", "add table ip x"],
    "list ruleset",
    "add table ip x",
    ["-c", "add rule ip x nosuch accept"],
    ["-c", "add chain ip x c"],
    ["-c", "delete table ip x"],
    "list ruleset",
]

_EDITS = [
    {"file": _RULESET},
    "rename chain ip mt c c2",
    "flush chain ip mt c2",
    "delete chain ip mt c2",            # EBUSY: still the target of `jump c`
    "flush set ip mt s",
    "delete element ip mt m { 80 }",
    "add element ip mt m { 443 : 10.0.0.2 }",
    "flush table inet mb",
    "delete set inet mb s4",
    "delete map inet mb vm",
    "flush ruleset ip6",
    ["-a", "list ruleset"],
]

_ERRORS = [
    "add table ip t",
    "create table ip t",                           # EEXIST
    "delete table ip nosuch",                      # ENOENT
    "add chain ip t c",
    "create chain ip t c",                         # EEXIST
    "add rule ip t c jump nosuch",                 # ENOENT
    "delete rule ip t c handle 999",               # ENOENT
    "replace rule ip t c handle 999 accept",       # ENOENT
    "add rule ip t c position 999 accept",         # ENOENT
    "add chain ip t a",
    "add chain ip t b",
    "add rule ip t a jump b",
    "add rule ip t b jump a",                      # ELOOP
    "add chain ip t base { type filter hook input priority 0; policy accept; }",
    "add rule ip t c jump base",                   # EOPNOTSUPP: jump to a base chain
    "add chain ip t base { type filter hook output priority 0; }",   # EEXIST-ish: hook change
    "add chain ip t nat { type nat hook forward priority 0; }",      # EOPNOTSUPP: nat forward
    "add set ip t s { type ipv4_addr; }",
    "add element ip t s { 1.1.1.1 }",
    "create element ip t s { 1.1.1.1 }",           # EEXIST
    "delete element ip t s { 9.9.9.9 }",           # ENOENT
    "delete set ip t nosuch",                      # ENOENT
    "add rule ip t c ip saddr @s accept",
    "delete set ip t s",                           # EBUSY: in use by a rule
    "delete chain ip t a",                         # EBUSY: not empty
    "add table ip t { flags dormant; }",
    "add table ip t",
    ["-a", "list ruleset"],
]


# Stateful objects apart, so a missing object kind does not hide the other results.
_OBJECTS = [
    {"file": "table ip o {\n\tcounter cnt { }\n\tquota q { over 10 mbytes }\n"
             "\tlimit l { rate 10/second }\n\tchain c { counter name cnt; quota name q; }\n}\n"},
    "list counters", "list counter ip o cnt", "list quotas", "list quota ip o q", "list limits",
    ["-j", "list counters"],
    "reset counters", "reset quotas", "reset counter ip o cnt",
    "delete counter ip o cnt",            # EBUSY: used by a rule
    "flush chain ip o c",
    "delete counter ip o cnt",
    "delete quota ip o q",
    "add counter ip o cnt",
    "add counter ip o cnt",               # add is idempotent
    "create counter ip o cnt",            # EEXIST
    "add rule ip o c counter name nosuch",
    ["-a", "list ruleset"],
]


# Single-element GETs (`nft get element`) per backend and element updates (re-adding an
# element: no-op, data clash, timeout/expiration updates as 6.18 applies them).
_ELEMENTS = [
    {"file": "table ip g {\n"
             "\tset h { type ipv4_addr; elements = { 1.1.1.1, 2.2.2.2 comment \"two\" } }\n"
             "\tset iv { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.1.1-192.168.1.9 } }\n"
             "\tset cc { type ipv4_addr . inet_service; flags interval; elements = { 10.0.0.0/8 . 80-90, 1.1.1.1 . 22 } }\n"
             "\tmap m { type inet_service : ipv4_addr; elements = { 80 : 10.0.0.1 } }\n"
             "\tset tt { type ipv4_addr; flags timeout; timeout 1h; elements = { 5.5.5.5 } }\n"
             "\tset nt { type ipv4_addr; flags timeout; }\n"
             "}\n"},
    "get element ip g h { 1.1.1.1 }", "get element ip g h { 2.2.2.2, 3.3.3.3 }",
    "get element ip g iv { 10.1.2.3 }", "get element ip g iv { 11.0.0.0 }",
    "get element ip g iv { 192.168.1.1-192.168.1.9 }",
    "get element ip g cc { 10.1.1.1 . 85 }", "get element ip g cc { 1.1.1.1 . 23 }",
    "get element ip g m { 80 }",
    "add element ip g h { 1.1.1.1 }",
    "create element ip g h { 1.1.1.1 }",            # EEXIST
    "add element ip g m { 80 : 10.0.0.1 }",
    "add element ip g m { 80 : 10.0.0.2 }",         # EEXIST: other data
    "add element ip g cc { 10.1.0.0/16 . 85 }",     # EEXIST: overlaps
    "add element ip g tt { 5.5.5.5 timeout 10m }",
    "add element ip g tt { 6.6.6.6 timeout 20m expires 30m }",   # ERANGE
    "add element ip g nt { 7.7.7.7 expires 1m }",                # EOPNOTSUPP
    "add element ip g nt { 7.7.7.7 timeout 5m }",
    "add element ip g nt { 7.7.7.7 timeout 7m }",
    "list set ip g nt",
    "add set ip g lim { type ipv4_addr; limit rate 1/second; }",
    "add element ip g lim { 1.1.1.1 limit rate 1 kbytes/second burst 5 kbytes }",   # EOPNOTSUPP
    "add element ip g lim { 2.2.2.2 limit rate 5/second }",
    "add element ip g lim { 3.3.3.3 }",            # gets a copy of the set's limit
    ["-a", "list ruleset"],
]


# Table flags: dormancy (one change per batch) and NFT_TABLE_F_OWNER (each nft process is its
# own socket: an owned table disappears when the nft that made it exits).
_TABLE_FLAGS = [
    "add table ip d { flags dormant; }",
    "add chain ip d c { type filter hook input priority 0; }",
    "list ruleset",
    "add table ip d",
    {"file": "add table ip d\nadd table ip d { flags dormant; }\n"},   # EINVAL
    {"file": "add table ip d { flags dormant; }\nadd table ip d { flags dormant; }\n"},
    ["-a", "list ruleset"],
    "add table ip o { flags owner; }",
    "list ruleset",
    "add table ip o",
    "add table ip o { flags owner; }",          # EOPNOTSUPP: o is not an orphan
    {"file": "add table ip own { flags owner; }\nadd chain ip own c { type filter hook input priority 0; }\n"
             "add rule ip own c counter\n"},
    "list ruleset",
    "delete table ip d",
    ["-a", "list ruleset"],
]


# Devices added to an existing netdev base chain (names need not exist on 6.18).
_NETDEV_DEVICES = [
    "add table netdev t",
    "add chain netdev t c { type filter hook ingress devices = { d0 } priority 0; }",
    "add chain netdev t c { type filter hook ingress devices = { d0, d1 } priority 0; }",
    ["-e", "add chain netdev t c { type filter hook ingress devices = { d2 } priority 0; }"],
    "add chain netdev t c { type filter hook ingress devices = { d3 } priority 5; }",   # EOPNOTSUPP
    ["-a", "list ruleset"],
    ["-j", "list chain netdev t c"],
]


def _deep_jumps() -> list:
    # The kernel limits jump depth to 16 (NFT_JUMP_STACK_SIZE): the 17th link must fail (ELOOP).
    lines = ["table ip deep {"]
    lines += [f"\tchain c{i} {{ }}" for i in range(20)]
    lines.append("}")
    steps: list = [{"file": "\n".join(lines) + "\n"},
                   "add chain ip deep base { type filter hook input priority 0; }",
                   "add rule ip deep base jump c0"]
    steps += [f"add rule ip deep c{i} jump c{i + 1}" for i in range(19)]
    steps.append(["-a", "list ruleset"])
    return steps


SCRIPT_CASES = [
    {"id": "commands/listings", "commands": [{"file": _RULESET}] + _LISTINGS},
    {"id": "commands/echo", "commands": _ECHO},
    {"id": "commands/check-mode", "commands": _CHECK_MODE},
    {"id": "commands/edits", "commands": _EDITS},
    {"id": "commands/errors", "commands": _ERRORS},
    {"id": "commands/objects", "commands": _OBJECTS},
    {"id": "commands/jump-depth", "commands": _deep_jumps()},
    {"id": "commands/elements", "commands": _ELEMENTS},
    {"id": "commands/table-flags", "commands": _TABLE_FLAGS},
    {"id": "commands/netdev-devices", "commands": _NETDEV_DEVICES},
]
