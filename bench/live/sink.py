#!/usr/bin/env python3
"""A UDP socket on PORT that nobody reads, with the smallest receive buffer: every datagram the
live benchmark sends ends by being dropped at this socket's queue, on the filtered and the
reference path alike. Prints "ready" once bound, then sleeps until killed (by PID, by run.py)."""
import socket
import sys
import time

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    time.sleep(3600)
