"""Reply capture for the verdict differential (`run.sh --verdicts --replies`): what each receiver
sends back to the sender, compared between the kernel-filtered and the nfbpfd-filtered side.

Counters prove which rules matched; they cannot prove that a `reject` sent the ICMP error or TCP
reset the kernel sends, or that NAT rewrote addresses and ports as the kernel does. With --replies
each receiver (K and N alike) gets a local address, default routes back over its veth (gateways
with permanent neighbour entries: no ARP/ND traffic), forwarding on and ICMP rate limits off; the
sender namespace captures every frame that comes back on k0 and n0:
  - ICMP/ICMPv6 errors (a reject's unreachable, the stack's own port unreachable, time exceeded)
    with type, code and the quoted packet,
  - TCP segments (a reject's RST with its seq/ack, the stack's RST for a closed port),
  - forwarded packets, so a DNAT'd packet shows its rewritten destination address and port,
  - echo replies and anything else IPv4/IPv6 the receiver sends.
Neighbour discovery, MLD and router messages (ICMPv6 130-143) and ARP are left out: the receivers
send them on their own schedule. Fields that differ by design are zeroed before comparing: the
IPv4 identification and header checksum (a per-namespace counter/hash for locally generated
packets) and the IPv6 flow label.
"""
from __future__ import annotations

import collections
import select
import socket
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
RECV_ADDR4, RECV_ADDR6 = "198.51.100.2", "2001:db8::2"
GW4, GW6 = "192.0.2.254", "fe80::1"


def receiver_setup(recv_dev: str, sender_mac: str) -> list[list[str]]:
    """Commands (run with `ip netns exec R`) that make a receiver answer and forward to the sender."""
    return [["sysctl", "-qw", "net.ipv4.ip_forward=1"],
            ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
            ["sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"],
            ["sysctl", "-qw", f"net.ipv4.conf.{recv_dev}.send_redirects=0"],
            ["sysctl", "-qw", "net.ipv4.icmp_ratemask=0"],
            ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"],
            ["sysctl", "-qw", "net.ipv4.icmp_msgs_per_sec=1000000"],
            ["sysctl", "-qw", "net.ipv4.icmp_msgs_burst=1000000"],
            ["sysctl", "-qw", "net.ipv6.icmp.ratelimit=0"],
            ["sysctl", "-qw", "net.ipv6.auto_flowlabels=0"],
            # The probes carry no valid TCP/UDP checksum; conntrack would call them invalid and
            # NAT would never see them.
            ["sysctl", "-qw", "net.netfilter.nf_conntrack_checksum=0"],
            ["ip", "addr", "add", f"{RECV_ADDR4}/32", "dev", recv_dev],
            ["ip", "addr", "add", f"{RECV_ADDR6}/128", "dev", recv_dev, "nodad"],
            ["ip", "neigh", "add", GW4, "lladdr", sender_mac, "dev", recv_dev, "nud", "permanent"],
            ["ip", "route", "add", "default", "via", GW4, "dev", recv_dev, "onlink"],
            ["ip", "-6", "neigh", "add", GW6, "lladdr", sender_mac, "dev", recv_dev, "nud", "permanent"],
            ["ip", "-6", "route", "add", "default", "via", GW6, "dev", recv_dev]]


def open_capture(dev: str) -> socket.socket:
    """A packet socket on the sender's end of a veth (must be called inside the sender namespace)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((dev, 0))
    s.setblocking(False)
    return s


def drain(s: socket.socket) -> list[bytes]:
    """Every frame queued on the socket that the peer sent (our own transmissions left out)."""
    out = []
    while True:
        try:
            data, addr = s.recvfrom(65535)
        except BlockingIOError:
            return out
        if addr[2] != PACKET_OUTGOING:
            out.append(data)


def collect(socks: dict[str, socket.socket], settle_s: float = 0.03) -> dict[str, list[bytes]]:
    """Frames each side sent back since the last drain; waits until neither side has sent anything
    for `settle_s` (replies are generated while the probes are processed, before the sentinel
    counter moves, so this only covers the last hop)."""
    got: dict[str, list[bytes]] = {k: [] for k in socks}
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        ready, _, _ = select.select(list(socks.values()), [], [], settle_s)
        if not ready:
            break
        for side, s in socks.items():
            got[side] += drain(s)
    return got


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
