"""The live benchmark's rulesets, in each engine's own input language.

- linear N: N rules `ip saddr A drop` (A in 172.16.0.0/12) that the traffic (from 10.88.1.1) does
  not match, so every packet runs all N;
- set N: the same N addresses as one set and one rule (nft only: iptables-legacy would need ipset);
- pairs N: N rules `ip saddr A udp dport P drop` (P cycles over 100 ports, the traffic's among
  them): two fields per rule, so merge_runs cannot merge them; nfbpfd classifies them
  (translate/passes/classify.h) unless NFBPF_CLASSIFY=0 ("nfbpf-noclassify");
- mixed: a realistic input chain (conntrack, interfaces, blocked networks, ports, jumps) that the
  benchmark's UDP traffic walks most of before a `services` chain accepts it.
Engines: "nft" (the kernel), "nfbpf" (the same nft text through nfbpf-run), "nfbpf-linear" (the same
with nfbpfd's merge_runs pass off), "nfbpf-noclassify" (classify off), "iptables-legacy".
"""
from __future__ import annotations

import ipaddress

BASE = int(ipaddress.IPv4Address("172.16.0.0"))


def addresses(n: int) -> list[str]:
    return [str(ipaddress.IPv4Address(BASE + i)) for i in range(n)]


def nft_linear(n: int) -> str:
    rules = "".join(f"\t\tip saddr {a} drop\n" for a in addresses(n))
    return ("table ip bench {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
            f"{rules}\t}}\n}}\n")


def nft_set(n: int) -> str:
    elements = f"\t\telements = {{ {', '.join(addresses(n))} }}\n" if n else ""
    return ("table ip bench {\n\tset blocked {\n\t\ttype ipv4_addr\n" + elements + "\t}\n"
            "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\tip saddr @blocked drop\n\t}\n}\n")


def pair_port(i: int) -> int:
    return 9 + i % 100  # the benchmark's traffic goes to UDP port 9


def nft_pairs(n: int) -> str:
    rules = "".join(f"\t\tip saddr {a} udp dport {pair_port(i)} drop\n" for i, a in enumerate(addresses(n)))
    return ("table ip bench {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
            f"{rules}\t}}\n}}\n")


def ipt_pairs(n: int) -> str:
    rules = "".join(f"-A INPUT -s {a}/32 -p udp --dport {pair_port(i)} -j DROP\n" for i, a in enumerate(addresses(n)))
    return f"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}COMMIT\n"


NFT_MIXED = """table ip bench {
	set blocked_nets {
		type ipv4_addr
		flags interval
		elements = { 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 }
	}
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		ct state invalid drop
		iifname "lo" accept
		ip saddr @blocked_nets drop
		ip protocol icmp accept
		tcp dport { 22, 80, 443 } accept
		udp dport 53 accept
		ip saddr 10.0.0.0/8 jump lan
		tcp flags syn tcp dport 8000-8999 drop
		ip saddr 10.88.0.0/16 udp dport 9 jump services
	}
	chain lan {
		tcp dport 3306 accept
		udp dport 5353 accept
	}
	chain services {
		ip daddr 10.88.1.2 udp dport 9 accept
	}
}
"""

IPT_MIXED = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:lan - [0:0]
:services - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -i lo -j ACCEPT
-A INPUT -s 192.0.2.0/24 -j DROP
-A INPUT -s 198.51.100.0/24 -j DROP
-A INPUT -s 203.0.113.0/24 -j DROP
-A INPUT -p icmp -j ACCEPT
-A INPUT -p tcp -m multiport --dports 22,80,443 -j ACCEPT
-A INPUT -p udp --dport 53 -j ACCEPT
-A INPUT -s 10.0.0.0/8 -j lan
-A INPUT -p tcp --syn --dport 8000:8999 -j DROP
-A INPUT -s 10.88.0.0/16 -p udp --dport 9 -j services
-A lan -p tcp --dport 3306 -j ACCEPT
-A lan -p udp --dport 5353 -j ACCEPT
-A services -d 10.88.1.2/32 -p udp --dport 9 -j ACCEPT
COMMIT
"""


def ipt_linear(n: int) -> str:
    rules = "".join(f"-A INPUT -s {a}/32 -j DROP\n" for a in addresses(n))
    return f"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}COMMIT\n"


def render(engine: str, shape: str, n: int) -> str | None:
    """The ruleset text for `engine`, or None where the engine has no such ruleset."""
    if engine in ("nft", "nfbpf", "nfbpf-linear", "nfbpf-noclassify"):
        return {"linear": nft_linear, "set": nft_set, "pairs": nft_pairs, "mixed": lambda _: NFT_MIXED}[shape](n)
    if engine == "iptables-legacy":
        return {"linear": ipt_linear, "pairs": ipt_pairs, "mixed": lambda _: IPT_MIXED}.get(shape, lambda _: None)(n)
    raise ValueError(f"unknown engine {engine}")
