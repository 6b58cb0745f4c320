#!/usr/bin/env python3
"""Builds the fuzz seed corpus from recorded sessions (../testdata/*.cap): one seed per nft
command, holding that command's datagrams in the fuzzer's framing (u16 length, little endian)."""
import os, struct, sys

src = os.path.join(os.path.dirname(__file__), '..', 'testdata')
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
n = 0
for name in sorted(os.listdir(src)):
    if not name.endswith('.cap'):
        continue
    seed = b''
    for line in open(os.path.join(src, name)):
        if line.startswith('# ') and seed:
            open(os.path.join(out, f'{name}-{n:05d}'), 'wb').write(seed)
            n += 1
            seed = b''
        parts = line.split()
        if len(parts) == 3 and parts[1] == 'S':
            d = bytes.fromhex(parts[2])[:65535]
            seed += struct.pack('<H', len(d)) + d
    if seed:
        open(os.path.join(out, f'{name}-{n:05d}'), 'wb').write(seed)
        n += 1
print(f'{n} seeds in {out}')
