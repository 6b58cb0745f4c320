"""Sends UDP datagrams with 10, 120 and 10 payload bytes to a socket on 127.0.0.1 and prints
whether each arrived (IP lengths 38, 148, 38)."""
import socket

r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 9999))
r.settimeout(0.5)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for size in (10, 120, 10):
    s.sendto(b"x" * size, ("127.0.0.1", 9999))
    try:
        r.recv(2048)
        print(f"udp payload {size}: received")
    except socket.timeout:
        print(f"udp payload {size}: dropped")
