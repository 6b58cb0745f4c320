#!/usr/bin/env python3
"""Prints the raw NFT_MSG_GETRULE dump of one family (hex, one message per line; nlmsg_seq,
nlmsg_pid and res_id, which carries the generation, zeroed): the bytes iptables-nft-save parses.
Run as is for the kernel, or under nfbpf-run for nfbpfd (Python's socket() goes through libc,
so the shim routes it). usage: nft_rule_dump.py NFPROTO"""
import socket, struct, sys
NETLINK_NETFILTER = 12
fam = int(sys.argv[1]) if len(sys.argv) > 1 else 2
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
s.bind((0, 0))
NFT_MSG_GETRULE = 7
hdr = struct.pack("=IHHII", 20, (10 << 8) | NFT_MSG_GETRULE, 0x1 | 0x300, 1, 0) + struct.pack("=BBH", fam, 0, 0)
s.send(hdr)
done = False
while not done:
    data = s.recv(1 << 16)
    off = 0
    while off < len(data):
        ln, typ, flags, seq, pid = struct.unpack_from("=IHHII", data, off)
        if typ == 3:
            done = True
            break
        msg = bytearray(data[off:off + ln])
        msg[8:16] = b"\0" * 8          # seq, pid
        msg[18:20] = b"\0\0"           # res_id (genid)
        print(msg.hex())
        off += (ln + 3) & ~3
