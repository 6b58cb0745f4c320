#!/usr/bin/env python3
"""Turns an nftables tests-py file (*.t) into a capture scenario for tools/capture.sh: the
tables and chains it declares, its sets (!), elements (?), objects (%) and rules, each as the nft
command a user would type (one nft process per line), then a handle listing of the ruleset.
Usage: gen_tests_py.py FILE.t > OUT.cmds"""
import re, sys

SET_KEYWORDS = ('flags', 'timeout', 'gc-interval', 'size', 'policy', 'counter', 'elements')


def quote(cmd):
    return "'" + cmd.replace("'", "'\\''") + "'"


def set_body(spec):
    # "type ipv4_addr timeout 60s flags interval" -> "type ipv4_addr; timeout 60s; flags interval;"
    words, parts, cur = spec.split(), [], []
    for w in words:
        if w in SET_KEYWORDS and cur:
            parts.append(' '.join(cur))
            cur = []
        cur.append(w)
    if cur:
        parts.append(' '.join(cur))
    return '{ ' + '; '.join(parts) + '; }'


def main(path):
    chains, tables, body = {}, [], []
    for raw in open(path):
        line = raw.rstrip('\n')
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        if line.startswith(':'):
            name, spec = line[1:].split(';', 1)
            chains[name.strip()] = spec.strip()
        elif line.startswith('*'):
            fam, table, chs = line[1:].split(';')
            tables.append((fam.strip(), table.strip(), [c.strip() for c in chs.split(',')]))
        else:
            body.append(line)
    out = []
    for fam, table, chs in tables:
        out.append(f'add table {fam} {table}')
        for c in chs:
            out.append(quote(f'add chain {fam} {table} {c} {{ {chains[c]}; }}'))
        for line in body:
            m = re.match(r'^(.*);(ok|fail)(;[^;]*)?$', line)
            if not m:
                continue
            stmt = m.group(1)
            if stmt.startswith('!'):
                name, spec = stmt[1:].split(None, 1)
                kind = 'map' if ' : ' in spec else 'set'
                out.append(quote(f'add {kind} {fam} {table} {name} {set_body(spec)}'))
            elif stmt.startswith('?'):
                name, elems = stmt[1:].split(None, 1)
                out.append(quote(f'add element {fam} {table} {name} {{ {elems} }}'))
            elif stmt.startswith('%'):
                name, spec = stmt[1:].split(None, 1)
                spec = re.sub(r'^type\s+', '', spec)
                m = re.match(r'(ct helper|ct timeout|ct expectation|counter|quota|limit|synproxy|secmark)\s*(.*)', spec)
                if not m:
                    continue
                out.append(quote(f'add {m.group(1)} {fam} {table} {name} {m.group(2)}'.rstrip()))
            else:
                out.append(quote(f'add rule {fam} {table} {chs[0]} {stmt}'))
        out.append('-a list ruleset')
    out.append('flush ruleset')
    print('\n'.join(out))


main(sys.argv[1])
