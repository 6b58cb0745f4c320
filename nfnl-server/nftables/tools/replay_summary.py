#!/usr/bin/env python3
"""Reads nftables_replay_test output (stdin) and prints, per mismatching request, the command and
the first differing attribute lines (via nldiff's tree view)."""
import re, subprocess, sys, os

here = os.path.dirname(__file__)
cmd, pairs = None, {}
def flush():
    for k in sorted(pairs):
        a, b = pairs[k].get('k', ''), pairs[k].get('o', '')
        if a == '(none)' or b == '(none)' or not a or not b:
            print(f'  [{k}] kernel={a[:60]} ours={b[:60]}')
            continue
        out = subprocess.run([sys.executable, os.path.join(here, 'nldiff.py'), a, b], capture_output=True, text=True).stdout
        diffs = [l for l in out.splitlines() if l.startswith('!!')][:4]
        print(f'  [{k}] ' + '\n       '.join(diffs))
for line in sys.stdin:
    m = re.match(r'command: (.*)', line)
    if m:
        if cmd: flush()
        cmd, pairs = m.group(1), {}
        print(cmd)
        continue
    m = re.match(r'(kernel|ours  )\[(\d+)\]: (.*)', line)
    if m:
        pairs.setdefault(int(m.group(2)), {})['k' if m.group(1) == 'kernel' else 'o'] = m.group(3).strip()
if cmd: flush()
