#!/usr/bin/env python3
"""Prints two netlink messages (hex, as the replay test shows them) as attribute trees, side by
side, to see where an nf_tables reply differs from the kernel's. Nesting is guessed: a payload
that parses exactly as attributes is shown as a nest.
Usage: nldiff.py KERNEL_HEX OURS_HEX"""
import struct, sys


def tree(b, depth=0, out=None):
    out = [] if out is None else out
    off = 0
    while off + 4 <= len(b):
        ln, ty = struct.unpack_from('<HH', b, off)
        if ln < 4 or off + ln > len(b):
            out.append('  ' * depth + f'<junk {b[off:].hex()}>')
            return out
        p = b[off + 4:off + ln]
        flag = 'N' if ty & 0x8000 else ' '
        out.append('  ' * depth + f'{ty & 0x3fff:3d}{flag} len={ln:3d} {p.hex() if len(p) <= 32 else p[:32].hex() + "..."}')
        if looks_nested(p):
            tree(p, depth + 1, out)
        off += (ln + 3) & ~3
    return out


def looks_nested(p):
    off = 0
    if len(p) < 4:
        return False
    while off + 4 <= len(p):
        ln, _ = struct.unpack_from('<HH', p, off)
        if ln < 4 or off + ln > len(p):
            return False
        off += (ln + 3) & ~3
    return off == len(p)


def msg(h):
    b = bytes.fromhex(h.replace(' ', ''))
    return [f'hdr {b[:20].hex()}'] + tree(b[20:])


a, b = msg(sys.argv[1]), msg(sys.argv[2])
for i in range(max(len(a), len(b))):
    x = a[i] if i < len(a) else ''
    y = b[i] if i < len(b) else ''
    print(('  ' if x == y else '!!') + f' {x:<70} | {y}')
