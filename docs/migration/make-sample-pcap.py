#!/usr/bin/env python3
"""Writes a synthetic capture (Ethernet, pcap) of traffic towards a web server, for the
`nfbpf verify --pcap` walk-through in docs/migration.md: TCP SYNs to ssh/http/https/other ports
from a few sources (one inside admin_nets), QUIC (UDP 443), DNS, pings, IPv6 too.
Usage: make-sample-pcap.py OUT.pcap [COUNT]"""
import random
import socket
import struct
import sys


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(src, dst, proto, l4):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, len(l4))
    return b"\x08\x00", h, pseudo


def ip6(src, dst, proto, l4):
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    h = struct.pack("!IHBB", 0x60000000, len(l4), proto, 64) + s + d
    pseudo = s + d + struct.pack("!IxxxB", len(l4), proto)
    return b"\x86\xdd", h, pseudo


def packet(v6, src, dst, proto, l4, csum_at):
    et, h, pseudo = (ip6 if v6 else ip4)(src, dst, proto, l4)
    if csum_at is not None:
        c = csum((pseudo if proto != 1 else b"") + l4)
        l4 = l4[:csum_at] + struct.pack("!H", c) + l4[csum_at + 2:]
    return b"\x52\x54\x00\x12\x34\x56" + b"\x52\x54\x00\xab\xcd\xef" + et + h + l4


def tcp(sport, dport, flags=0x02):
    return struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), 0, 0x50, flags, 64240, 0, 0)


def udp(sport, dport, n):
    return struct.pack("!HHHH", sport, dport, 8 + n, 0) + bytes(n)


def main():
    out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    random.seed(7)
    srcs4 = ["192.0.2.5", "198.51.100.200", "203.0.113.9", "100.64.1.1"]
    srcs6 = ["2001:db8:1::5", "2001:db8:2::7"]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(count):
            v6 = random.random() < 0.25
            src = random.choice(srcs6 if v6 else srcs4)
            dst = "2001:db8::80" if v6 else "198.51.100.80"
            kind = random.choices(["ssh", "web", "other", "quic", "dns", "ping"], [3, 10, 2, 3, 1, 1])[0]
            sport = random.randint(1024, 65535)
            if kind in ("ssh", "web", "other"):
                dport = {"ssh": 22, "web": random.choice([80, 443]), "other": random.choice([23, 3306, 8080])}[kind]
                p = packet(v6, src, dst, 6, tcp(sport, dport), 16)
            elif kind in ("quic", "dns"):
                p = packet(v6, src, dst, 17, udp(sport, 443 if kind == "quic" else 53, 40), 6)
            else:
                p = packet(v6, src, dst, 58 if v6 else 1, struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, 1, i & 0xffff), 2)
            f.write(struct.pack("<IIII", i // 100, (i % 100) * 10000, len(p), len(p)) + p)


if __name__ == "__main__":
    main()
