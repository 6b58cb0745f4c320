"""Worker: runs cases against one engine, inside the private network namespace it was started in.

Protocol: one JSON case per line on stdin, one JSON result per line on stdout (same order).
Started by the orchestrator as `unshare --net --mount python3 -m nfbpf_compat.worker ...`; between
cases the ruleset is flushed, so one namespace (and one daemon) serves many cases.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time

from . import listing
from .engines import NFT_TIMEOUT_S, Engine, KernelEngine, NfbpfEngine, StepResult
from .netns import assert_private_netns

MONITOR_READY_ATTEMPTS = 5
LISTINGS = (("list", ["list", "ruleset"]),
            ("list -a", ["-a", "list", "ruleset"]),
            ("list -j", ["-j", "list", "ruleset"]))


def _listings(engine: Engine, steps: list[StepResult], prefix: str = "") -> None:
    for name, args in LISTINGS:
        steps.append(engine.nft(prefix + name, args))


def _setup(engine: Engine, steps: list[StepResult], commands: list[str]) -> None:
    """All setup commands in one batch; if the batch is refused, one command at a time
    (as nft-test.py does), so a single refused set does not take the table down with it."""
    if not commands:
        return
    batch = engine.nft("setup", ["-f", "-"], stdin="\n".join(commands) + "\n")
    steps.append(batch)
    if batch.rc == 0:
        return
    steps.append(engine.nft("flush", ["flush", "ruleset"]))
    for i, cmd in enumerate(commands):
        steps.append(engine.nft(f"setup[{i}]", [cmd]))


def run_rule(engine: Engine, case: dict) -> tuple[list[StepResult], list[str]]:
    steps = [engine.nft("flush", ["flush", "ruleset"])]
    _setup(engine, steps, case["setup"])
    steps.append(engine.nft("rule", [case["command"]]))
    _listings(engine, steps)
    return steps, []


def run_dump(engine: Engine, case: dict) -> tuple[list[StepResult], list[str]]:
    steps = [engine.nft("flush", ["flush", "ruleset"])]
    steps.append(engine.nft("load", ["-f", case["file"]]))
    _listings(engine, steps)
    inv = listing.parse_handles(steps[-2].stdout)   # the engine's own `-a` listing
    for cmd in listing.teardown_commands(inv):
        steps.append(engine.nft(cmd, [cmd]))
        steps.append(engine.nft(f"list -a after {cmd}", ["-a", "list", "ruleset"]))
    _listings(engine, steps, prefix="before flush: ")
    steps.append(engine.nft("flush ruleset", ["flush", "ruleset"]))
    _listings(engine, steps, prefix="after flush: ")
    return steps, []


class _MonitorReader:
    """Collects a running `nft monitor`'s stdout on a thread so the worker can wait for events."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line)

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in list(self.lines)):
                return True
            time.sleep(0.01)
        return False


def _marker(engine: Engine, name: str) -> None:
    # A rule add shows in every monitor form used (plain, -j, `rules`, `new`).
    engine.nft("marker", ["-f", "-"], stdin=f"table ip {name} {{ chain c {{ counter; }}; }}\n")


def run_monitor(engine: Engine, case: dict) -> tuple[list[StepResult], list[str]]:
    """Markers instead of sleeps: nft gives no sign that it has subscribed, so a marker table is
    added until the monitor reports it; at the end another marker is waited for, which proves
    every earlier event has been printed. Both engines see the same markers."""
    steps = [engine.nft("flush", ["flush", "ruleset"])]
    notes: list[str] = []
    mon = engine.popen(case["monitor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       errors="replace")
    reader = _MonitorReader(mon)
    name = ""
    try:
        time.sleep(0.05)                          # usually enough; the markers make sure
        for attempt in range(MONITOR_READY_ATTEMPTS):
            name = f"monitor_ready{attempt}"
            _marker(engine, name)
            ready = reader.wait_for(name, 1.0)
            engine.nft("marker", ["delete", "table", "ip", name])
            if ready:
                break
        if attempt:
            notes.append(f"monitor needed {attempt + 1} ready markers")
        steps += [_command_step(engine, cmd) for cmd in case["commands"]]
        _marker(engine, "monitor_done")
        if not reader.wait_for("monitor_done", 5.0):
            notes.append("monitor did not report the end marker within 5 s")
    finally:
        mon.send_signal(signal.SIGTERM)           # by PID: the monitor this function started
        try:
            mon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            mon.kill()
            mon.wait()
        reader.thread.join(timeout=5)
        err = mon.stderr.read()
    # Events before the marker that was seen (deletes of missed markers) depend on when the monitor
    # subscribed, and the end marker's own events may be cut short by SIGTERM: the output compared
    # runs from the first event of the ready marker seen to the first event of the end marker.
    lines = reader.lines
    first = next((i for i, line in enumerate(lines) if name and name in line), 0)
    last = next((i for i, line in enumerate(lines) if "monitor_done" in line), len(lines))
    out = "".join(lines[first:last])
    if name:
        out = out.replace(name, "monitor_ready")
    steps.append(StepResult("monitor output", "nft " + " ".join(case["monitor"]),
                            mon.returncode, out, err))
    return steps, notes


def _command_step(engine: Engine, cmd) -> StepResult:
    if isinstance(cmd, dict):                     # {"file": text} -> one `nft -f -` batch
        return engine.nft("batch", ["-f", "-"], stdin=cmd["file"])
    if isinstance(cmd, list):                     # options, then the command line
        return engine.nft(" ".join(cmd), cmd)
    return engine.nft(cmd, [cmd])


def run_script(engine: Engine, case: dict) -> tuple[list[StepResult], list[str]]:
    steps = [engine.nft("flush", ["flush", "ruleset"])]
    steps += [_command_step(engine, cmd) for cmd in case["commands"]]
    _listings(engine, steps, prefix="final: ")
    return steps, []


RUNNERS = {"rule": run_rule, "dump": run_dump, "monitor": run_monitor, "script": run_script}


def make_engine(args: argparse.Namespace) -> Engine:
    if args.engine == "kernel":
        return KernelEngine()
    return NfbpfEngine(args.nfbpfd, args.nfbpf_run, args.daemon_log, args.nfbpfd_arg or [])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=("kernel", "nfbpf"), required=True)
    ap.add_argument("--nfbpfd")
    ap.add_argument("--nfbpf-run")
    ap.add_argument("--daemon-log", default="/dev/null")
    ap.add_argument("--nfbpfd-arg", action="append")
    args = ap.parse_args()
    assert_private_netns()
    # The orchestrator stops a worker by closing stdin; SIGTERM still runs the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    engine = make_engine(args)
    try:
        engine.start()
        for line in sys.stdin:
            case = json.loads(line)
            t0 = time.monotonic()
            try:
                steps, notes = RUNNERS[case["kind"]](engine, case)
            except Exception as e:  # a harness bug in one case must not lose the others
                steps, notes = [], [f"harness error: {type(e).__name__}: {e}"]
            if engine.hung:
                notes.append(f"nft timed out after {NFT_TIMEOUT_S:.0f} s (rest of the case skipped); "
                             f"{engine.name} restarted")
                engine.restart()
            for problem in (engine.check_bypass(), engine.check_alive() or engine.reset(),
                            engine.check_after_reset()):
                if problem:
                    notes.append(problem)
            result = {"id": case["id"], "engine": engine.name, "notes": notes,
                      "elapsed": round(time.monotonic() - t0, 4),
                      "steps": [s.to_json() for s in steps]}
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
    finally:
        if isinstance(engine, NfbpfEngine):
            engine.cleanup()
        else:
            engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
