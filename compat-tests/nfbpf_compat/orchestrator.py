"""Runs cases on engines: N workers per engine, each in its own `unshare --net --mount` namespace.

Cases are dealt one at a time to whichever worker is free, so slow cases do not stall a batch.
Engines run concurrently (the kernel and nfbpf sides are independent).
"""
from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
import time

from . import netns

MAX_DEATHS_IN_A_ROW = 3
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class EngineSpec:
    name: str                      # "kernel" or "nfbpf": the side of the comparison
    worker_args: list[str]         # extra arguments for nfbpf_compat.worker
    worker_engine: str = ""        # engine the worker runs (defaults to name)


@dataclasses.dataclass
class NfbpfBinaries:
    nfbpfd: str
    nfbpf_run: str
    shim: str

    @property
    def build_dir(self) -> str:
        return os.path.dirname(os.path.dirname(self.nfbpfd))


def find_nfbpf(repo: str, build_dir: str | None) -> NfbpfBinaries | None:
    """The build dir given, else build/, else the most recently built build*/ holding all three."""
    def at(d: str) -> NfbpfBinaries | None:
        b = NfbpfBinaries(os.path.join(d, "bin", "nfbpfd"), os.path.join(d, "bin", "nfbpf-run"),
                          os.path.join(d, "lib", "libnfbpf-shim.so"))
        ok = all(os.path.exists(p) for p in (b.nfbpfd, b.nfbpf_run, b.shim))
        return b if ok else None
    if build_dir:
        return at(os.path.abspath(build_dir))
    default = at(os.path.join(repo, "build"))
    if default:
        return default
    found = [b for d in os.listdir(repo) if d.startswith("build") and (b := at(os.path.join(repo, d)))]
    found.sort(key=lambda b: os.path.getmtime(b.nfbpfd), reverse=True)
    return found[0] if found else None


def engine_specs(engines: list[str], nfbpf: NfbpfBinaries | None, out_dir: str,
                 daemon_args: list[str]) -> list[EngineSpec]:
    specs = []
    for e in engines:
        if e == "kernel":
            specs.append(EngineSpec("kernel", []))
        elif e == "kernel-as-nfbpf":
            # Self-check: the kernel on both sides must compare identical; proves the harness
            # (normalisation, comparison) reports no difference where there is none.
            specs.append(EngineSpec("nfbpf", [], worker_engine="kernel"))
        elif e == "nfbpf":
            if nfbpf is None:
                raise SystemExit("nfbpf engine requested but nfbpfd/nfbpf-run/libnfbpf-shim.so not built")
            args = ["--nfbpfd", nfbpf.nfbpfd, "--nfbpf-run", nfbpf.nfbpf_run]
            args += [f"--nfbpfd-arg={a}" for a in daemon_args]   # "=": values may start with "-"
            specs.append(EngineSpec("nfbpf", args))
        else:
            raise SystemExit(f"unknown engine {e!r}")
    return specs


class Worker:
    """One worker process: a private network (and mount) namespace running nfbpf_compat.worker."""

    def __init__(self, spec: EngineSpec, index: int, out_dir: str):
        self.spec = spec
        log = os.path.join(out_dir, f"{spec.name}-{index}.log")
        argv = ["unshare", "--net", "--mount", "--", sys.executable, "-m", "nfbpf_compat.worker",
                "--engine", spec.worker_engine or spec.name, "--daemon-log", log + ".daemon", *spec.worker_args]
        env = dict(os.environ, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
        env[netns.PARENT_NETNS_ENV] = str(netns.net_ns_inode())
        self.stderr = open(log, "w", encoding="utf-8")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, env=env, cwd=HERE)

    def run(self, case: dict) -> dict | None:
        try:
            self.proc.stdin.write(json.dumps(case) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            return None
        return json.loads(line) if line else None

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()          # by PID: the worker this object started
            self.proc.wait()
        self.stderr.close()


def run_engine(spec: EngineSpec, cases: list[dict], jobs: int, out_dir: str,
               progress: bool) -> tuple[dict[str, dict], float]:
    """Returns ({case id: result}, wall seconds)."""
    todo: queue.Queue = queue.Queue()
    # The self-check runs its second side in reverse order, so namespace histories (table handles,
    # generation ids) differ and the normalisation is exercised, not just trivially satisfied.
    self_check = spec.name == "nfbpf" and spec.worker_engine == "kernel"
    for c in (reversed(cases) if self_check else cases):
        todo.put(c)
    results: dict[str, dict] = {}
    lock = threading.Lock()
    t0 = time.monotonic()

    def loop(index: int) -> None:
        worker = Worker(spec, index, out_dir)
        deaths_in_a_row = 0
        try:
            while True:
                try:
                    case = todo.get_nowait()
                except queue.Empty:
                    return
                # A worker that keeps dying (e.g. the daemon cannot start) is not restarted forever.
                res = worker.run(case) if deaths_in_a_row < MAX_DEATHS_IN_A_ROW else None
                if res is None:       # worker died: record it, start a fresh one
                    res = {"id": case["id"], "engine": spec.name, "steps": [], "elapsed": 0,
                           "notes": [f"worker died (see {out_dir}/{spec.name}-{index}.log)"]}
                    deaths_in_a_row += 1
                    if deaths_in_a_row < MAX_DEATHS_IN_A_ROW:
                        worker.close()
                        worker = Worker(spec, index, out_dir)
                else:
                    deaths_in_a_row = 0
                with lock:
                    results[case["id"]] = res
                    n = len(results)
                if progress and n % 200 == 0:
                    print(f"  [{spec.name}] {n}/{len(cases)} cases, {time.monotonic() - t0:.0f}s",
                          file=sys.stderr, flush=True)
        finally:
            worker.close()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - t0


def run_all(specs: list[EngineSpec], cases: list[dict], jobs: int, out_dir: str,
            progress: bool = True) -> tuple[dict[str, dict[str, dict]], dict[str, float]]:
    """Runs every engine concurrently. Returns ({engine: {id: result}}, {engine: seconds})."""
    results: dict[str, dict[str, dict]] = {}
    timings: dict[str, float] = {}

    def one(spec: EngineSpec) -> None:
        results[spec.name], timings[spec.name] = run_engine(spec, cases, jobs, out_dir, progress)

    threads = [threading.Thread(target=one, args=(s,)) for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, timings
