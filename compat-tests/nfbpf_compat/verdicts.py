"""Verdict differential: the same probe packets through a kernel-filtered namespace and an
nfbpfd-filtered one (`nfbpfd --offload=strict`), per-rule counters compared.

Topology (named namespaces, created and deleted by this run):

    sender S ── k0 ═ p1 ── receiver K   (the kernel's nf_tables runs the case)
             └─ n0 ═ p1 ── receiver N   (nfbpfd --offload=strict runs it as BPF; nft via nfbpf-run)

Each tests-py case becomes one table (the case's family and name) with:
  chain vhead   prerouting -150: the sentinel rule (counter drop) and an arrival `counter`
  chain probe   prerouting 0, the case's chain type: THE RULE, then a fall-through `counter`
  chain vtail   prerouting 150: `counter` (packets the probe chain accepted)
plus the file's regular chains, sets, elements and objects as the case declares them. The case's
own hook (input, output, forward, ...) is replaced by prerouting because every injected frame that
survives the IP stack's sanity checks reaches prerouting, whatever its destination address.

The probe packets come from `nfbpf_probe_gen` (eval::rule_probes on the rule as the kernel holds
it). All probes are sent on both veths, then a sentinel frame; once each side's sentinel counter
moved, every counter of the table is read on both sides and compared. When the totals differ the
case is replayed one probe at a time (fresh load) to name the probes whose counters differ.

Where this runs: `run.sh --verdicts` hands these rulesets (case_ruleset, dump_for_prerouting) to
`nfbpf verify --batch` (verdict_batch.py), whose C++ testbed does the loading, probing, sending and
comparing; the Python Testbed below (and run_experiment/run_dump) serve `--replies` (receivers that
answer, their replies captured) and the iptables differential (ipt_verdicts.py).
"""
from __future__ import annotations

import collections
import ctypes
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time

from . import cases as cases_mod
from . import replies as rp

CLONE_NEWNET = 0x40000000
RECV_DEV = "p1"
RECV_IFINDEX = 7
SENDER_MAC = "02:00:00:00:00:01"
RECV_MAC = "02:00:00:00:00:02"
SENTINEL4 = ("192.0.2.222", "192.0.2.223")
SENTINEL6 = ("2001:db8:ffff::222", "2001:db8:ffff::223")
NFT_TIMEOUT = 20


def _sh(argv: list[str], stdin: str | None = None, env: dict | None = None, timeout: float = NFT_TIMEOUT):
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=timeout)


def _checked(argv: list[str]) -> None:
    p = _sh(argv)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {p.stderr.strip()}")


# ---- frames ----------------------------------------------------------------------------------

def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def _mac(s: str) -> bytes:
    return bytes(int(x, 16) for x in s.split(":"))


def _ip_frame(v6: bool, proto: int, l4: bytes, src: str | None = None, dst: str | None = None) -> bytes:
    eth = _mac(RECV_MAC) + _mac(SENDER_MAC)
    if not v6:
        s, d = (socket.inet_pton(socket.AF_INET, a) for a in (src or "192.0.2.1", dst or "198.51.100.2"))
        hdr = bytearray(b"\x45\x00" + (20 + len(l4)).to_bytes(2, "big") + b"\0\0\0\0\x40" + bytes([proto]) + b"\0\0" + s + d)
        hdr[10:12] = _csum(bytes(hdr)).to_bytes(2, "big")
        return eth + b"\x08\x00" + bytes(hdr) + l4
    s, d = (socket.inet_pton(socket.AF_INET6, a) for a in (src or "2001:db8::1", dst or "2001:db8::2"))
    return eth + b"\x86\xdd" + b"\x60\0\0\0" + len(l4).to_bytes(2, "big") + bytes([proto, 64]) + s + d + l4


def generic_frames() -> list[bytes]:
    """Packets every experiment gets besides its boundary probes: rules with nothing to vary
    (limit, quota, counter, a bare verdict) are still exercised, and a train of 16 larger datagrams
    per family runs token buckets and quotas past their limits."""
    tcp = (40000).to_bytes(2, "big") + (80).to_bytes(2, "big") + b"\0" * 8 + b"\x50\x02\xff\xff" + b"\0" * 4
    udp = lambda n: (40000).to_bytes(2, "big") + (53).to_bytes(2, "big") + (8 + n).to_bytes(2, "big") + b"\0\0" + b"x" * n
    icmp = b"\x08\0\0\0\0\x01\0\x01"
    icmp6 = b"\x80\0\0\0\0\x01\0\x01"
    out = [_ip_frame(False, 6, tcp), _ip_frame(False, 17, udp(0)), _ip_frame(False, 1, icmp),
           _ip_frame(True, 6, tcp), _ip_frame(True, 17, udp(0)), _ip_frame(True, 58, icmp6)]
    for _ in range(16):
        out += [_ip_frame(False, 17, udp(200)), _ip_frame(True, 17, udp(200))]
    return out


def sentinel_frame(v6: bool) -> bytes:
    eth = _mac(RECV_MAC) + _mac(SENDER_MAC)
    udp = (9).to_bytes(2, "big") * 2 + (8).to_bytes(2, "big") + b"\0\0"
    if not v6:
        src, dst = (socket.inet_pton(socket.AF_INET, a) for a in SENTINEL4)
        hdr = bytearray(b"\x45\x00" + (28).to_bytes(2, "big") + b"\0\0\0\0\x40\x11\0\0" + src + dst)
        hdr[10:12] = _csum(bytes(hdr)).to_bytes(2, "big")
        return eth + b"\x08\x00" + bytes(hdr) + udp
    src, dst = (socket.inet_pton(socket.AF_INET6, a) for a in SENTINEL6)
    return eth + b"\x86\xdd" + b"\x60\0\0\0" + (8).to_bytes(2, "big") + b"\x11\x40" + src + dst + udp


# ---- the testbed -----------------------------------------------------------------------------

class Testbed:
    """Three namespaces, two veth pairs, nfbpfd in N. Everything is removed by close()."""

    def __init__(self, nfbpf_build: str, probe_gen: str, log_path: str, offload: str = "strict",
                 replies: bool = False):
        tag = secrets.token_hex(3)
        self.offload = offload   # nfbpfd --offload=MODE (hybrid: chains BPF cannot run stay in N's kernel)
        # --replies (replies.py): receivers answer and forward; what comes back is compared. The
        # receive device is then called eth0, the interface tests-py's nat rules name.
        self.replies = replies
        self.recv_dev = "eth0" if replies else RECV_DEV
        self.rx: dict[str, socket.socket] = {}
        self.nfbpf_cli = os.path.join(nfbpf_build, "bin", "nfbpf")
        self.ns = {k: f"nfbpf-verdict-{k}-{tag}" for k in ("S", "K", "N")}
        self.nfbpfd = os.path.join(nfbpf_build, "bin", "nfbpfd")
        self.nfbpf_run = os.path.join(nfbpf_build, "bin", "nfbpf-run")
        self.probe_gen = probe_gen
        self.log_path = log_path
        self.sock_dir = f"/tmp/nfbpf-verdict-{tag}"
        self.socket_path = os.path.join(self.sock_dir, "nfbpfd.sock")
        self.daemon: subprocess.Popen | None = None
        self.tx: dict[str, socket.socket] = {}
        self.created: list[str] = []

    def open(self) -> None:
        os.makedirs(self.sock_dir, exist_ok=True)
        for ns in self.ns.values():
            _checked(["ip", "netns", "add", ns])
            self.created.append(ns)
        S = self.ns["S"]
        for side, dev in (("K", "k0"), ("N", "n0")):
            R = self.ns[side]
            _checked(["ip", "-n", R, "link", "add", self.recv_dev, "index", str(RECV_IFINDEX), "address", RECV_MAC,
                      "type", "veth", "peer", "name", dev, "address", SENDER_MAC, "netns", S])
            _checked(["ip", "-n", R, "link", "set", "lo", "up"])
            _checked(["ip", "-n", R, "link", "set", self.recv_dev, "up"])
            if self.replies:
                for argv in rp.receiver_setup(self.recv_dev, SENDER_MAC):
                    _checked(["ip", "netns", "exec", R, *argv])
            _checked(["ip", "-n", S, "link", "set", dev, "up"])
            # The sender's kernel sends nothing of its own (no IPv6 autoconfiguration, no
            # addresses); the receiver keeps IPv6 on, or ip6_rcv drops every IPv6 probe.
            _checked(["ip", "netns", "exec", S, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1"])
        self._open_senders()
        self.start_daemon()

    def _open_senders(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.ns['S']}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the sender namespace")
            try:
                for side, dev in (("K", "k0"), ("N", "n0")):
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
                    s.setsockopt(263, 20, 1)  # SOL_PACKET, PACKET_QDISC_BYPASS  # frames go out as built
                    s.bind((dev, 0))
                    self.tx[side] = s
                    if self.replies:
                        self.rx[side] = rp.open_capture(dev)
            finally:
                if libc.setns(home, CLONE_NEWNET) != 0:
                    raise SystemExit("cannot return to the original network namespace")
        finally:
            os.close(home)
            os.close(target)

    def start_daemon(self) -> None:
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        log = open(self.log_path, "a", encoding="utf-8")
        self.daemon = subprocess.Popen(["ip", "netns", "exec", self.ns["N"], self.nfbpfd, "--socket", self.socket_path,
                                        f"--offload={self.offload}"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket_path):
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nfbpfd did not start (log {self.log_path})")
            time.sleep(0.01)

    def placements(self) -> dict[tuple[str, str, str], tuple[str, bool]]:
        """hybrid: where nfbpfd runs each chain, (family, table, chain) -> (where, is a base chain);
        where is "bpf", "kernel", "bpf+kernel" or "none" (`nfbpf status -j`; empty when it cannot tell)."""
        r = _sh([self.nfbpf_cli, "--socket", self.socket_path, "status", "-j"])
        try:
            return {(p["family"], p["table"], p["chain"]): (p["where"], bool(p.get("base")))
                    for p in json.loads(r.stdout).get("placement", [])}
        except (ValueError, KeyError, TypeError):
            return {}

    def placement(self, family: str, table: str, chain: str) -> str:
        """hybrid: where nfbpfd runs a chain ("bpf", "kernel", ...; "" when unknown)."""
        return self.placements().get((family, table, chain), ("", False))[0]

    def daemon_alive(self) -> bool:
        return self.daemon is not None and self.daemon.poll() is None

    def restart_daemon(self) -> None:
        self.stop_daemon()
        self.start_daemon()

    def stop_daemon(self) -> None:
        if self.daemon is None:
            return
        if self.daemon.poll() is None:
            self.daemon.terminate()          # by PID: `ip netns exec` execs nfbpfd in place
            try:
                self.daemon.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def close(self) -> None:
        self.stop_daemon()
        for s in list(self.tx.values()) + list(self.rx.values()):
            s.close()
        for ns in reversed(self.created):
            _sh(["ip", "netns", "del", ns])
        self.created.clear()
        shutil.rmtree(self.sock_dir, ignore_errors=True)   # the socket and nfbpfd's .lock beside it

    # -- nft on either side ----------------------------------------------------------------
    def nft(self, side: str, args: list[str], stdin: str | None = None):
        env = dict(os.environ, LC_ALL="C", TZ="UTC-2")
        argv = ["ip", "netns", "exec", self.ns[side]]
        if side == "N":
            env["NFBPF_SOCKET"] = self.socket_path
            argv.append(self.nfbpf_run)
        return _sh(argv + ["nft", *args], stdin=stdin, env=env)

    def send(self, side: str, frame: bytes) -> None:
        self.tx[side].send(frame)

    def gen_probes(self, family: str, table: str, max_elems: int = 16, chain: str = "probe"):
        p = _sh(["ip", "netns", "exec", self.ns["K"], self.probe_gen, family, table, chain, self.recv_dev, RECV_MAC,
                 str(max_elems)], timeout=60)
        probes = []
        for line in p.stdout.splitlines():
            h, exp, what = line.split(" ", 2)
            probes.append((bytes.fromhex(h), exp == "1", what))
        return p.returncode, probes, p.stderr.strip()


# ---- cases -----------------------------------------------------------------------------------

def _chain_type(config: str) -> str:
    m = re.search(r"\btype\s+(\w+)", config)
    t = m.group(1) if m else "filter"
    return "filter" if t == "route" else t


def case_ruleset(case: dict) -> tuple[str, str, str, list[str], str]:
    """(family, table, experiment key, setup commands, the rule) for a tests-py case dict."""
    _, _, family, table, chain = case["id"].rsplit(":", 4)
    setup = case["setup"]
    chain_lines = [c for c in setup if c.startswith("add chain ")]
    config = ""
    regular = []
    for c in chain_lines:
        name_and_rest = c[len(f"add chain {family} {table} "):]
        name, _, rest = name_and_rest.partition(" ")
        if name == chain:
            config = rest
        elif not rest:
            regular.append(c)
    extras = [c for c in setup if not c.startswith("add chain ") and not c.startswith("add table ")]
    spec = f"{family} {table}"
    ctype = _chain_type(config)
    sentinel = (f"ip6 saddr {SENTINEL6[0]} ip6 daddr {SENTINEL6[1]}" if family == "ip6"
                else f"ip saddr {SENTINEL4[0]} ip daddr {SENTINEL4[1]}") + " udp dport 9 counter drop"
    cmds = [f"add table {spec}", *regular,
            f"add chain {spec} vhead {{ type filter hook prerouting priority -150; }}",
            f"add chain {spec} probe {{ type {ctype} hook prerouting priority 0; }}",
            f"add chain {spec} vtail {{ type filter hook prerouting priority 150; }}",
            *extras,
            f"add rule {spec} vhead {sentinel}",
            f"add rule {spec} vhead counter",
            f"add rule {spec} vtail counter"]
    rule = case["command"].split(" ", 5)[5]
    key = json.dumps([family, table, ctype, cmds, rule])
    return family, table, key, cmds, rule


def read_counters(tb: Testbed, side: str, family: str, table: str) -> dict[str, list[int]] | None:
    p = tb.nft(side, ["-j", "list", "table", family, table])
    if p.returncode != 0:
        return None
    out: dict[str, list[int]] = {}
    pos: collections.Counter = collections.Counter()
    for item in json.loads(p.stdout)["nftables"]:
        r = item.get("rule")
        if not r:
            continue
        i = pos[r["chain"]]
        pos[r["chain"]] += 1
        nth = 0
        for e in r.get("expr", []):
            if isinstance(e, dict) and "counter" in e and isinstance(e["counter"], dict) and "packets" in e["counter"]:
                out[f"{r['chain']}#{i}.{nth}"] = [e["counter"]["packets"], e["counter"]["bytes"]]
                nth += 1
    return out


# Self-test of the comparison (CTest compat_verdicts_detects_difference): the nfbpf side's arrival
# counter skips TCP, so every TCP probe must be reported as a difference.
SABOTAGE = os.environ.get("NFBPF_VERDICTS_SABOTAGE") == "1"
# Self-test of --replies: the nfbpf side rejects with another ICMP code (admin- instead of
# host-prohibited). Counters cannot tell (same verdict); only the ICMP errors sent back show it.
REPLIES_SABOTAGE = os.environ.get("NFBPF_REPLIES_SABOTAGE") == "1"


def _load(tb: Testbed, side: str, family: str, table: str, cmds: list[str], rule: str):
    """None when loaded, else ("setup"|"rule", stderr)."""
    if SABOTAGE and side == "N":
        cmds = [c.replace(" vhead counter", " vhead meta l4proto != tcp counter") for c in cmds]
    if REPLIES_SABOTAGE and side == "N":
        rule = rule.replace("host-prohibited", "admin-prohibited")
    tb.nft(side, ["flush", "ruleset"])
    p = tb.nft(side, ["-f", "-"], stdin="\n".join(cmds) + "\n")
    if p.returncode != 0:
        return ("setup", p.stderr.strip())
    p = tb.nft(side, ["add", "rule", family, table, "probe", rule])
    if p.returncode != 0:
        return ("rule", p.stderr.strip())
    p = tb.nft(side, ["add", "rule", family, table, "probe", "counter"])
    if p.returncode != 0:
        return ("setup", p.stderr.strip())
    return None


def _settle(tb: Testbed, family: str, table: str, sides: list[str], want: int) -> dict:
    """Waits until each side's sentinel counter reached `want` packets; returns the counters."""
    got = {}
    for side in sides:
        deadline = time.monotonic() + 2.0
        while True:
            c = read_counters(tb, side, family, table)
            if c is not None and c.get("vhead#0.0", [0])[0] >= want:
                got[side] = c
                break
            if time.monotonic() > deadline:
                got[side] = c
                break
            time.sleep(0.005)
    return got


def _send_all(tb: Testbed, frames: list[bytes], v6_sentinel: bool) -> None:
    s = sentinel_frame(v6_sentinel)
    for f in frames:
        tb.send("K", f)
        tb.send("N", f)
    tb.send("K", s)
    tb.send("N", s)


def _delta(after: dict, before: dict) -> dict:
    return {k: [a - b for a, b in zip(v, before.get(k, [0, 0]))] for k, v in after.items()}


def _without_sentinel(c: dict) -> dict:
    return {k: v for k, v in c.items() if k != "vhead#0.0"}


def _refusal_reason(tb: Testbed, log_offset: int, stderr: str) -> str:
    """The daemon's own explanation (its log since `log_offset`), else nft's message."""
    try:
        with open(tb.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(log_offset)
            text = f.read()
    except OSError:
        text = ""
    for line in text.splitlines():
        if "offload refused the batch:" in line:
            return line.split("offload refused the batch:", 1)[1].strip()
    for line in text.splitlines():
        if "EOPNOTSUPP" in line or "not offloaded" in line or "cannot" in line or "refus" in line.lower():
            return line.strip()
    lines = [l for l in stderr.splitlines() if l.startswith("Error")]
    return lines[0] if lines else stderr[:200]


def run_experiment(tb: Testbed, family: str, table: str, cmds: list[str], rule: str, max_elems: int) -> dict:
    res: dict = {"rule": rule}
    # A rule without a verdict looks the same whether it matched or not (the packet falls through
    # either way): append a counter so that its matches are counted. Rules ending in a verdict
    # refuse the extra statement; their verdict is visible in the other counters.
    k = _load(tb, "K", family, table, cmds, rule + " counter")
    if k and k[0] == "rule":
        k = _load(tb, "K", family, table, cmds, rule)
    else:
        rule = rule + " counter"
        res["appended_counter"] = True
    if k:
        res["status"] = "kernel-setup-refused" if k[0] == "setup" else "kernel-refused"
        res["detail"] = k[1][:300]
        return res
    if not tb.daemon_alive():
        tb.restart_daemon()
    log_off = os.path.getsize(tb.log_path) if os.path.exists(tb.log_path) else 0
    n = _load(tb, "N", family, table, cmds, rule)
    if n:
        if not tb.daemon_alive():
            res["status"] = "daemon-died"
            tb.restart_daemon()
            return res
        res["status"] = "refused"
        res["where"] = n[0]
        res["detail"] = _refusal_reason(tb, log_off, n[1])[:400]
        if "vhead at netfilter" in res["detail"] and "EBUSY" in res["detail"]:
            # The harness's own chain cannot collide within one ruleset: an attach point the
            # previous case left behind. Report it, and start the next case on a fresh daemon.
            res["status"] = "harness-error"
            res["detail"] = "nfbpfd kept an attach point of an earlier ruleset: " + res["detail"]
            tb.restart_daemon()
        return res
    if tb.offload == "hybrid":
        res["placement"] = tb.placement(family, table, "probe")
    rc, probes, err = tb.gen_probes(family, table, max_elems)
    if rc != 0 and tb.replies:
        # nat and reject rules: probes for the rule's matches alone (its statement cut off), so
        # that NAT'd and rejected packets are among those whose replies are compared.
        rc2, probes2 = _match_only_probes(tb, family, rule, max_elems)
        if rc2 == 0 and probes2:
            rc, probes = 0, probes2
            res["match_only_probes"] = True
    if rc != 0 and ((tb.offload == "hybrid" and res.get("placement") == "kernel") or tb.replies):
        # The probe generator reads rules through the translator, which refuses what placed the
        # chain in the kernel (nat, reject): the generic packets still compare both sides.
        rc, probes = 0, []
        res["generic_only"] = err[:200]
    if rc != 0:
        res["status"] = "no-probes"
        res["detail"] = err[:300]
        return res
    res["rule_probes"] = len(probes)
    probes += [(f, False, f"generic packet {i}") for i, f in enumerate(generic_frames())]
    res["probes"] = len(probes)
    v6s = family == "ip6"
    base = _settle(tb, family, table, ["K", "N"], 0)
    if tb.replies:
        rp.collect(tb.rx)
    _send_all(tb, [p[0] for p in probes], v6s)
    after = _settle(tb, family, table, ["K", "N"], 1)
    replies_equal = _compare_replies(tb, res)
    if after["K"] is None or after["N"] is None:
        res["status"] = "harness-error"
        res["detail"] = "cannot list the table after sending: " + (
            "kernel" if after["K"] is None else "nfbpfd (restarted)")
        if after["N"] is None:
            tb.restart_daemon()
        return res
    dk = _without_sentinel(_delta(after["K"], base["K"]))
    dn = _without_sentinel(_delta(after["N"], base["N"]))
    res["kernel"] = dk
    # How many probes reached prerouting at all (the others were dropped by the IP stack first).
    res["arrived"] = dk.get("vhead#1.0", [0])[0]
    if tb.offload == "hybrid":
        # The case's rule is the only user rule: it, and every packet that reached its chain (all
        # that arrived: vhead drops only the sentinel), count where its chain ran.
        res["shares"] = _experiment_shares(res.get("placement", ""), res["arrived"], dk.get("probe#0.0"))
    if dk == dn and replies_equal:
        res["status"] = "equal"
        return res
    res["status"] = "mismatch"
    res["nfbpf"] = dn
    if dk != dn:
        res["differing_probes"] = _replay_one_by_one(tb, family, table, cmds, rule, probes, v6s)
    return res


def _compare_replies(tb: Testbed, res: dict) -> bool:
    """--replies: what both receivers sent back during the send, compared (recorded in res)."""
    if not tb.replies:
        return True
    equal, summary = rp.compare(rp.collect(tb.rx))
    res["replies"] = summary
    return equal


NAT_OR_REJECT = re.compile(r"\s*\b(dnat|snat|redirect|masquerade|reject)\b.*$")


def _match_only_probes(tb: Testbed, family: str, rule: str, max_elems: int):
    """Probes for the matches of a nat/reject rule (statement cut off), made from a scratch table
    with a regular chain in K (no hook: it sees no packet). (rc, probes); rc != 0 when the cut rule
    does not load alone (it names the case's sets, ...)."""
    match = NAT_OR_REJECT.sub("", rule).strip()
    if not match or match == rule.strip():
        return 1, []
    scratch = "nfbpf_probe_src"
    tb.nft("K", ["add", "table", family, scratch])
    try:
        if tb.nft("K", ["add", "chain", family, scratch, "probe"]).returncode != 0:
            return 1, []
        if tb.nft("K", ["add", "rule", family, scratch, "probe", match]).returncode != 0:
            return 1, []
        rc, probes, _err = tb.gen_probes(family, scratch, max_elems)
        return rc, probes
    finally:
        tb.nft("K", ["delete", "table", family, scratch])


def _side_of(where: str) -> str:
    """A placement as a share bucket: "bpf", "kernel", "both" (a regular chain reached from base
    chains on both sides runs on both) or "" (runs nowhere / unknown)."""
    return {"bpf": "bpf", "kernel": "kernel", "bpf+kernel": "both"}.get(where, "")


def _experiment_shares(where: str, arrived: int, rule_counter: list[int] | None) -> dict:
    side = _side_of(where)
    out = collections.Counter()
    if side:
        out[f"rules_{side}"] += 1
        out[f"packets_{side}"] += arrived
        if rule_counter:   # the rule's first counter (its own or the appended one): its matches
            out[f"matches_{side}"] += rule_counter[0]
    return dict(out)


def dump_shares(placements: dict, counters: dict, arrived: int) -> dict:
    """Hybrid shares of one shell dump (harness table left out): its rules by where their chain ran,
    rule matches (packets counted by the counter after each rule's matches) by where they were
    counted, and the packets that reached prerouting by who decided them — BPF when every base chain
    of the dump ran as BPF, the kernel when every one ran in the kernel, "both" when a packet went
    through chains on both sides."""
    out = collections.Counter()
    for key, (pk, _by) in counters.items():
        chain_id, _, _ = key.rpartition("#")
        fam, table, chain = chain_id.split(" ", 2)
        if table == SENTINEL_TABLE:
            continue
        side = _side_of(placements.get((fam, table, chain), ("", False))[0])
        if side and key.endswith(".0"):
            out[f"rules_{side}"] += 1
        if side:
            out[f"matches_{side}"] += pk
    bases = {_side_of(w) for (_f, table, _c), (w, base) in placements.items()
             if table != SENTINEL_TABLE and base and w in ("bpf", "kernel")}
    if bases:
        out["packets_" + (bases.pop() if len(bases) == 1 else "both")] += arrived
    return dict(out)


def _replay_one_by_one(tb, family, table, cmds, rule, probes, v6s, limit: int = 5) -> list[dict]:
    for side in ("K", "N"):
        if _load(tb, side, family, table, cmds, rule):
            return [{"error": f"reload failed on {side}"}]
    out = []
    prev = _settle(tb, family, table, ["K", "N"], 0)
    for i, (frame, expect, what) in enumerate(probes):
        s = sentinel_frame(v6s)
        tb.send("K", frame)
        tb.send("N", frame)
        tb.send("K", s)
        tb.send("N", s)
        now = _settle(tb, family, table, ["K", "N"], i + 1)
        dk = _without_sentinel(_delta(now["K"], prev["K"]))
        dn = _without_sentinel(_delta(now["N"], prev["N"]))
        prev = now
        if dk != dn:
            out.append({"probe": what, "frame": frame.hex(), "evaluator_expects_match": expect,
                        "kernel": {k: v for k, v in dk.items() if v != [0, 0]},
                        "nfbpf": {k: v for k, v in dn.items() if v != [0, 0]}})
            if len(out) >= limit:
                break
    return out


# ---- shell dumps: a whole ruleset at once -----------------------------------------------------

SENTINEL_TABLE = "__verdicts"


def dump_for_prerouting(listing: dict) -> tuple[dict, list[tuple[str, str]]] | None:
    """The kernel's `nft -j list ruleset` of a loaded dump, made observable at prerouting:
    ip/ip6/inet tables only (no flowtables), every base chain moved to prerouting at a priority of
    its own per IP family (-149 ... 149: between the sentinel chains; nfbpfd refuses two chains at one attach
    point), and a counter in every rule right after its matches, so that each
    rule's matches are counted. Returns (ruleset to load with `nft -j -f`, tables probed)."""
    out = []
    tables = []
    prio = {"4": -149, "6": -149}
    referenced = set()

    def scan(x) -> None:   # chains some jump/goto (rule or verdict map element) reaches
        if isinstance(x, dict):
            for k, v in x.items():
                if k in ("jump", "goto") and isinstance(v, dict) and "target" in v:
                    referenced.add(v["target"])
                scan(v)
        elif isinstance(x, list):
            for v in x:
                scan(v)
    scan(listing)
    for item in listing.get("nftables", []):
        (kind, obj), = item.items()
        if kind == "metainfo":
            continue
        if obj.get("family") not in ("ip", "ip6", "inet") or kind == "flowtable":
            continue
        obj = {k: v for k, v in obj.items() if k != "handle"}
        if kind == "table":
            tables.append((obj["family"], obj["name"]))
        if kind == "chain" and "hook" not in obj and obj["name"] not in referenced:
            # A regular chain nothing jumps to would never run: probe it as a base chain.
            obj.update(type="filter", hook="prerouting", policy="accept")
        if kind == "chain" and "hook" in obj:
            # ip chains share attach points with ip and inet chains, ip6 with ip6 and inet.
            fam = obj["family"]
            doms = {"ip": ["4"], "ip6": ["6"]}.get(fam, ["4", "6"])
            p = max(prio[d] for d in doms)
            if p > 149:
                return None
            for d in doms:
                prio[d] = p + 1
            obj["hook"] = "prerouting"
            obj["prio"] = p
            if obj.get("type") == "route":
                obj["type"] = "filter"
        if kind == "rule":
            # Right after the rule's matches: counts the packets that matched it, whatever its
            # statements do next (a counter after a terminal statement is refused).
            exprs = list(obj.get("expr", []))
            at = next((i for i, e in enumerate(exprs) if "match" not in e), len(exprs))
            exprs.insert(at, {"counter": None})
            obj["expr"] = exprs
        out.append({"add": {kind: obj}})
    # Tables, then chains (verdict map elements name them), then sets/maps/objects, rules last.
    rank = {"table": 0, "chain": 1, "rule": 3}
    out.sort(key=lambda a: rank.get(next(iter(a["add"])), 2))
    fam4, fam6 = SENTINEL4, SENTINEL6
    t = {"family": "inet", "table": SENTINEL_TABLE}
    out += [{"add": {"table": {"family": "inet", "name": SENTINEL_TABLE}}},
            {"add": {"chain": dict(t, name="vhead", type="filter", hook="prerouting", prio=-150, policy="accept")}},
            {"add": {"chain": dict(t, name="vtail", type="filter", hook="prerouting", prio=150, policy="accept")}},
            {"add": {"rule": dict(t, chain="vhead", expr=[
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": fam4[0]}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": fam4[1]}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 9}},
                {"counter": None}, {"drop": None}])}},
            {"add": {"rule": dict(t, chain="vhead", expr=[{"counter": None}])}},
            {"add": {"rule": dict(t, chain="vtail", expr=[{"counter": None}])}}]
    return {"nftables": [{"metainfo": {"json_schema_version": 1}}] + out}, tables


def read_all_counters(tb: Testbed, side: str) -> dict[str, list[int]] | None:
    p = tb.nft(side, ["-j", "list", "ruleset"])
    if p.returncode != 0:
        return None
    out: dict[str, list[int]] = {}
    pos: collections.Counter = collections.Counter()
    for item in json.loads(p.stdout)["nftables"]:
        r = item.get("rule")
        if not r:
            continue
        chain = f"{r['family']} {r['table']} {r['chain']}"
        i = pos[chain]
        pos[chain] += 1
        nth = 0
        for e in r.get("expr", []):
            if isinstance(e, dict) and isinstance(e.get("counter"), dict) and "packets" in e["counter"]:
                out[f"{chain}#{i}.{nth}"] = [e["counter"]["packets"], e["counter"]["bytes"]]
                nth += 1
    return out


SENTINEL_KEY = f"inet {SENTINEL_TABLE} vhead#0.0"
ARRIVAL_KEY = f"inet {SENTINEL_TABLE} vhead#1.0"


def _settle_all(tb: Testbed, want: int) -> dict:
    got = {}
    for side in ("K", "N"):
        deadline = time.monotonic() + 2.0
        while True:
            c = read_all_counters(tb, side)
            if (c is not None and c.get(SENTINEL_KEY, [0])[0] >= want) or time.monotonic() > deadline:
                got[side] = c
                break
            time.sleep(0.005)
    return got


def run_dump(tb: Testbed, path: str, max_elems: int) -> dict:
    res: dict = {"file": path}
    tb.nft("K", ["flush", "ruleset"])
    p = tb.nft("K", ["-f", path])
    if p.returncode != 0:
        res["status"] = "kernel-refused"
        res["detail"] = p.stderr.strip()[:300]
        return res
    listing = json.loads(tb.nft("K", ["-j", "list", "ruleset"]).stdout)
    conv = dump_for_prerouting(listing)
    if conv is None:
        res["status"] = "harness-error"
        res["detail"] = "more than 299 base chains of one IP family: not enough priorities between the sentinel chains"
        return res
    ruleset, tables = conv
    text = json.dumps(ruleset)
    for side in ("K", "N"):
        tb.nft(side, ["flush", "ruleset"])
        log_off = os.path.getsize(tb.log_path) if os.path.exists(tb.log_path) else 0
        p = tb.nft(side, ["-j", "-f", "-"], stdin=text)
        if p.returncode != 0:
            if side == "K":
                res["status"] = "kernel-refused-prerouting"
                res["detail"] = p.stderr.strip()[:300]
            else:
                if not tb.daemon_alive():
                    tb.restart_daemon()
                    res["status"] = "daemon-died"
                    return res
                res["status"] = "refused"
                res["detail"] = _refusal_reason(tb, log_off, p.stderr)[:400]
            return res
    probes = []
    for fam, name in tables:
        q = _sh(["ip", "netns", "exec", tb.ns["K"], tb.probe_gen, fam, name, "*", tb.recv_dev, RECV_MAC, str(max_elems)],
                timeout=120)
        if q.returncode != 0 and (tb.offload == "hybrid" or tb.replies):
            # Hybrid: the probe generator refuses what placed the table's chains in the kernel
            # (dynset, ct set, payload set, ...); the other tables' probes and the generic packets
            # still compare both sides.
            res.setdefault("generic_only_tables", []).append(f"{fam} {name}: {q.stderr.strip()[:160]}")
            continue
        if q.returncode != 0:
            res["status"] = "no-probes"
            res["detail"] = f"{fam} {name}: {q.stderr.strip()[:300]}"
            return res
        for line in q.stdout.splitlines():
            h, exp, what = line.split(" ", 2)
            probes.append((bytes.fromhex(h), exp == "1", f"{fam} {name}: {what}"))
    res["rule_probes"] = len(probes)
    probes += [(f, False, f"generic packet {i}") for i, f in enumerate(generic_frames())]
    res["probes"] = len(probes)
    base = _settle_all(tb, 0)
    if tb.replies:
        rp.collect(tb.rx)
    _send_all(tb, [p[0] for p in probes], False)
    after = _settle_all(tb, 1)
    replies_equal = _compare_replies(tb, res)
    if after["K"] is None or after["N"] is None or base["K"] is None or base["N"] is None:
        res["status"] = "harness-error"
        res["detail"] = "cannot list the ruleset"
        return res
    dk = {k: v for k, v in _delta(after["K"], base["K"]).items() if k != SENTINEL_KEY}
    dn = {k: v for k, v in _delta(after["N"], base["N"]).items() if k != SENTINEL_KEY}
    res["arrived"] = dk.get(ARRIVAL_KEY, [0])[0]
    res["rules_counted"] = sum(1 for k, v in dk.items() if v[0] and SENTINEL_TABLE not in k)
    if tb.offload == "hybrid":
        res["shares"] = dump_shares(tb.placements(), dk, res["arrived"])
    if dk == dn and replies_equal:
        res["status"] = "equal"
        return res
    res["status"] = "mismatch"
    if dk == dn:
        return res
    res["differing_counters"] = {k: [dk.get(k), dn.get(k)] for k in sorted(set(dk) | set(dn)) if dk.get(k) != dn.get(k)}
    # One probe at a time, on a fresh load, to name the packets.
    for side in ("K", "N"):
        tb.nft(side, ["flush", "ruleset"])
        tb.nft(side, ["-j", "-f", "-"], stdin=text)
    prev = _settle_all(tb, 0)
    named = []
    for i, (frame, expect, what) in enumerate(probes):
        _send_all(tb, [frame], False)
        now = _settle_all(tb, i + 1)
        a = {k: v for k, v in _delta(now["K"], prev["K"]).items() if v != [0, 0] and k != SENTINEL_KEY}
        b = {k: v for k, v in _delta(now["N"], prev["N"]).items() if v != [0, 0] and k != SENTINEL_KEY}
        prev = now
        if a != b:
            named.append({"probe": what, "frame": frame.hex(), "evaluator_expects_match": expect, "kernel": a, "nfbpf": b})
            if len(named) >= 5:
                break
    res["differing_probes"] = named
    return res
