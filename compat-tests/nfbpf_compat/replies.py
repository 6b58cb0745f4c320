"""Reply comparison for the verdict differential (`run.sh --verdicts --replies`): what each side
sends back to the sender, compared between the kernel-filtered and the nfbpfd-filtered side.

Counters prove which rules matched; they cannot prove that a `reject` sent the ICMP error or TCP
reset the kernel sends, or that NAT rewrote addresses and ports as the kernel does. With --replies
`nfbpf verify --batch` runs each experiment in its replies path (nfnl-server/cli/verify/
scratch_net.h: each side gets a local address, default routes back over its veth via gateways with
permanent neighbour entries, forwarding on, ICMP rate limits and conntrack's checksum check off)
and captures every frame that comes back on the sender's k0 and n0 (reply_capture.h), returned as
hex in the reply. Here they are compared:
  - ICMP/ICMPv6 errors (a reject's unreachable, the stack's own port unreachable, time exceeded)
    with type, code and the quoted packet,
  - TCP segments (a reject's RST with its seq/ack, the stack's RST for a closed port),
  - forwarded packets, so a DNAT'd packet shows its rewritten destination address and port,
  - echo replies and anything else IPv4/IPv6 the side sends.
Neighbour discovery, MLD and router messages (ICMPv6 130-143) and ARP are left out: the sides
send them on their own schedule. Fields that differ by design are zeroed before comparing: the
IPv4 identification and header checksum (a per-namespace counter/hash for locally generated
packets) and the IPv6 flow label.
"""
from __future__ import annotations

import collections
import socket

# The sides' own addresses in the replies path (nfnl-server/cli/verify/scratch_net.h).
RECV_ADDR4, RECV_ADDR6 = "198.51.100.2", "2001:db8::2"


def normalize(frame: bytes) -> tuple[str, bytes] | None:
    """(kind, comparable bytes without the Ethernet header) or None for frames left out."""
    if len(frame) < 14:
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    p = bytearray(frame[14:])
    if ethertype == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 0x0f) * 4
        p[4:6] = b"\0\0"
        p[10:12] = b"\0\0"
        proto = p[9]
        l4 = p[ihl:]
        if proto == 1 and l4:
            kind = {3: "icmp unreachable", 11: "icmp time exceeded", 0: "icmp echo reply"}.get(l4[0], f"icmp type {l4[0]}")
            if l4[0] == 3 and len(l4) > 1:
                kind += f" code {l4[1]}"
        elif proto == 6 and len(l4) >= 14:
            kind = "tcp rst" if l4[13] & 0x04 else "tcp"
        else:
            kind = {17: "udp"}.get(proto, f"ip proto {proto}")
        return "ipv4 " + kind, bytes(p)
    if ethertype == 0x86dd and len(p) >= 40:
        p[1] &= 0xf0
        p[2:4] = b"\0\0"
        nh = p[6]
        l4 = p[40:]
        if nh == 0 and len(l4) >= 8:   # hop-by-hop options (MLD reports carry router alert)
            nh, l4 = l4[0], l4[(l4[1] + 1) * 8:]
        if nh == 58 and l4:
            if 130 <= l4[0] <= 143:
                return None
            kind = {1: "icmpv6 unreachable", 3: "icmpv6 time exceeded", 129: "icmpv6 echo reply"}.get(
                l4[0], f"icmpv6 type {l4[0]}")
            if l4[0] == 1 and len(l4) > 1:
                kind += f" code {l4[1]}"
        elif nh == 6 and len(l4) >= 14:
            kind = "tcp rst" if l4[13] & 0x04 else "tcp"
        else:
            kind = {17: "udp"}.get(nh, f"next header {nh}")
        return "ipv6 " + kind, bytes(p)
    return None


def compare(got: dict[str, list[bytes]]) -> tuple[bool, dict]:
    """(equal, summary): the multisets of normalized frames of K and N; the summary counts the
    kernel side's frames by kind and, when they differ, shows up to 3 frames only one side sent."""
    norm = {side: collections.Counter(n for f in frames if (n := normalize(f))) for side, frames in got.items()}
    kinds = collections.Counter()
    for (kind, _b), n in norm["K"].items():
        kinds[kind] += n
    summary: dict = {"frames": sum(norm["K"].values()), "kinds": dict(kinds)}
    fwd = forwarded_destinations(got.get("K", []))
    if fwd:
        summary["forwarded_to"] = fwd
    if norm["K"] == norm["N"]:
        return True, summary
    summary["nfbpf_frames"] = sum(norm["N"].values())
    summary["only_kernel"] = [f"{k} {b.hex()}"[:240] for (k, b) in (norm["K"] - norm["N"])][:3]
    summary["only_nfbpf"] = [f"{k} {b.hex()}"[:240] for (k, b) in (norm["N"] - norm["K"])][:3]
    return False, summary


def forwarded_destinations(frames: list[bytes]) -> dict[str, int]:
    """Packets the receiver forwarded (source not its own address) by "dst:port" — where NAT sent
    them (a DNAT'd probe shows the translated address and port)."""
    out: collections.Counter = collections.Counter()
    for f in frames:
        if len(f) < 14 + 20:
            continue
        et = int.from_bytes(f[12:14], "big")
        p = f[14:]
        if et == 0x0800:
            src, dst, proto, l4 = p[12:16], p[16:20], p[9], p[(p[0] & 0x0f) * 4:]
            if socket.inet_ntop(socket.AF_INET, src) == RECV_ADDR4:
                continue
            d = socket.inet_ntop(socket.AF_INET, dst)
        elif et == 0x86dd and len(p) >= 40:
            src, dst, proto, l4 = p[8:24], p[24:40], p[6], p[40:]
            if socket.inet_ntop(socket.AF_INET6, src) == RECV_ADDR6 or proto not in (6, 17):
                continue
            d = "[" + socket.inet_ntop(socket.AF_INET6, dst) + "]"
        else:
            continue
        port = f":{int.from_bytes(l4[2:4], 'big')}" if proto in (6, 17) and len(l4) >= 4 else ""
        out[f"{d}{port}"] += 1
    return dict(out.most_common(5))
