#!/usr/bin/env python3
"""Runs the rules of iptables' extension .t files (libxt_*, libipt_*, libip6t_*) with
iptables-legacy/ip6tables-legacy twice, each in its own fresh network namespace: against the
kernel, and through nfbpf-run against a private nfbpfd. For every rule and chain it compares the
exit code and `-S CHAIN` output. Prints one line per differing rule and a summary.

usage: t_suite_diff.py BUILD_DIR T_FILE...   (root; never touches the caller's namespace)
"""
import os
import subprocess
import sys
import tempfile


def parse(path):
    base = os.path.basename(path)
    tool = "ip6tables-legacy" if base.startswith("libip6t_") else "iptables-legacy"
    table, chains, cases = "filter", [], []
    for line in open(path):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            chains = line[1:].split(",")
        else:
            rule = line.split(";")[0]
            for chain in chains:
                cases.append((table, chain, rule))
    return tool, cases


def script(tool, cases, nfbpf, build):
    lines = ["exec 2>&1"]
    if nfbpf:
        lines += [f"S=$(mktemp -u /tmp/nfbpf-t-XXXXXX).sock",
                  f"{build}/bin/nfbpfd --socket $S --offload=none --log-level error & D=$!",
                  "i=0; while [ ! -S $S ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done",
                  f"export NFBPF_SOCKET=$S; R={build}/bin/nfbpf-run"]
    else:
        lines.append("R=")
    for n, (table, chain, rule) in enumerate(cases):
        lines.append(f"echo '@@case {n}'")
        lines.append(f"$R {tool} -t {table} -A {chain} {rule} >/dev/null 2>&1; echo rc=$?")
        lines.append(f"$R {tool} -t {table} -S {chain}")
        lines.append(f"$R {tool} -t {table} -F {chain}")
    if nfbpf:
        lines.append("echo \"@@kernel-tables $(cat /proc/net/ip_tables_names /proc/net/ip6_tables_names | wc -l)\"")
        lines.append("kill $D; wait $D; rm -f $S $S.lock")
    return "\n".join(lines) + "\n"


def run(text):
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(text)
    try:
        out = subprocess.run(["unshare", "-n", "sh", f.name], capture_output=True, text=True,
                             timeout=600).stdout
    finally:
        os.unlink(f.name)
    results, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@@case "):
            cur = int(line.split()[1])
            results[cur] = []
        elif line.startswith("@@kernel-tables"):
            results["kernel-tables"] = line.split()[1]
        elif cur is not None:
            results[cur].append(line)
    return results


def main():
    build, files = sys.argv[1], sys.argv[2:]
    total = same = 0
    for path in files:
        if not os.path.exists(path):
            print(f"{path}: missing")
            continue
        tool, cases = parse(path)
        if not cases:
            continue
        kernel = run(script(tool, cases, False, build))
        ours = run(script(tool, cases, True, build))
        if ours.get("kernel-tables") != "0":
            print(f"{path}: the kernel's tables were touched!")
        diff = 0
        for n, case in enumerate(cases):
            total += 1
            if kernel.get(n) == ours.get(n):
                same += 1
            else:
                diff += 1
                print(f"DIFF {os.path.basename(path)}: -t {case[0]} -A {case[1]} {case[2]}\n"
                      f"   kernel: {kernel.get(n)}\n   nfbpf:  {ours.get(n)}")
        print(f"{os.path.basename(path)}: {len(cases) - diff}/{len(cases)} identical")
    print(f"TOTAL {same}/{total} identical")


if __name__ == "__main__":
    main()
