#!/usr/bin/env python3
"""The demo's traffic: `traffic.py recv SECONDS PORT...` counts UDP datagrams per port until
SECONDS have passed; `traffic.py send DST COUNT SRC:PORT...` sends COUNT datagrams from SRC to
DST:PORT for each pair. Bounded in count and time; only the demo's own addresses are used."""
import select
import socket
import sys
import time


def recv(seconds: float, ports: list[int]) -> None:
    socks = {}
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        socks[s] = port
    counts = {p: 0 for p in ports}
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(list(socks), [], [], left)
        for s in readable:
            s.recv(2048)
            counts[socks[s]] += 1
    print(" ".join(f"{p}:{n}" for p, n in counts.items()), flush=True)


def send(dst: str, count: int, pairs: list[str]) -> None:
    for pair in pairs:
        src, port = pair.rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((src, 0))
            for i in range(count):
                s.sendto(f"demo {i}".encode(), (dst, int(port)))
                time.sleep(0.002)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(float(sys.argv[2]), [int(p) for p in sys.argv[3:]])
    else:
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
