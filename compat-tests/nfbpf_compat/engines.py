"""Engines: how a worker (already inside its own network namespace) runs `nft`.

KernelEngine runs nft as is. NfbpfEngine starts nfbpfd in the same namespace on a private socket and
runs `nfbpf-run nft ...` with NFBPF_SOCKET pointing at it. Both return StepResult records.
"""
from __future__ import annotations

import ctypes
import dataclasses
import os
import signal
import subprocess
import tempfile
import time

NFT_TIMEOUT_S = float(os.environ.get("NFBPF_COMPAT_NFT_TIMEOUT", "10"))
TIMEOUT_RC = -999


@dataclasses.dataclass
class StepResult:
    name: str
    cmd: str
    rc: int
    stdout: str
    stderr: str

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    # nft-test.py runs with TZ=UTC-2 (time matches are listed in local time); C locale for messages.
    env["TZ"] = "UTC-2"
    env["LC_ALL"] = "C"
    return env


class Engine:
    name = "engine"
    # Set when an nft invocation times out (e.g. a daemon that never answers): the rest of the
    # case is skipped instead of waiting out every step, and the worker restarts the engine.
    hung = False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def check_alive(self) -> str | None:
        """None when healthy, else a description of what died (the engine restarts itself)."""
        return None

    def check_bypass(self) -> str | None:
        """None unless nft reached something other than the engine under test."""
        return None

    def reset(self) -> str | None:
        """Leave a clean ruleset for the next case; None when that worked. (The kernel's flush
        cannot fail; every case starts with its own `flush ruleset` step anyway.)"""
        return None

    def check_after_reset(self) -> str | None:
        """None unless the reset left state behind where the engine must leave none."""
        return None

    def argv(self, args: list[str]) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return _base_env()

    def popen(self, args: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(args), env=self.env(), text=True, **kw)

    def restart(self) -> None:
        self.hung = False

    def nft(self, name: str, args: list[str], stdin: str | None = None) -> StepResult:
        cmd = " ".join(["nft", *args])
        if self.hung:
            return StepResult(name, cmd, TIMEOUT_RC, "", "SKIPPED: an earlier step timed out")
        try:
            p = subprocess.run(self.argv(args), input=stdin, capture_output=True, text=True,
                               env=self.env(), timeout=NFT_TIMEOUT_S, errors="replace")
            return StepResult(name, cmd, p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            self.hung = True
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            return StepResult(name, cmd, TIMEOUT_RC, out, f"TIMEOUT after {NFT_TIMEOUT_S}s")


class KernelEngine(Engine):
    name = "kernel"

    def argv(self, args: list[str]) -> list[str]:
        return ["nft", *args]


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the daemon must not outlive a worker that is killed outright.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


class NfbpfEngine(Engine):
    name = "nfbpf"

    def __init__(self, nfbpfd: str, nfbpf_run: str, log_path: str, extra_args: list[str]):
        self.nfbpfd = nfbpfd
        self.nfbpf_run = nfbpf_run
        self.log_path = log_path
        self.extra_args = extra_args
        self.dir = tempfile.mkdtemp(prefix="nfbpf-compat-")
        self.socket = os.path.join(self.dir, "nfbpfd.sock")
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> None:
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        log = open(self.log_path, "a", encoding="utf-8")
        log.write(f"--- starting nfbpfd (restart {self.restarts})\n")
        log.flush()
        # The listing differential checks that the kernel's ruleset stays empty: store-only unless the
        # caller chose a mode (nfbpfd's default, hybrid, programs the kernel's nf_tables).
        mode = [] if any(a.startswith("--offload") for a in self.extra_args) else ["--offload=none"]
        self.proc = subprocess.Popen([self.nfbpfd, "--socket", self.socket, *mode, *self.extra_args],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + 10.0
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise RuntimeError(f"nfbpfd exited with {self.proc.returncode} before listening "
                                   f"(log: {self.log_path})")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nfbpfd did not create {self.socket} within 10 s")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)   # by PID: only the daemon this engine started
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        super().restart()
        self.stop()
        self.restarts += 1
        self.start()

    def check_alive(self) -> str | None:
        if self.proc is not None and self.proc.poll() is None:
            return None
        rc = self.proc.returncode if self.proc is not None else None
        self.restarts += 1
        self.proc = None
        self.start()
        return f"nfbpfd died (exit status {rc}); restarted"

    @property
    def hybrid(self) -> bool:
        """nfbpfd --offload=hybrid: chains BPF cannot run go to the kernel's nf_tables of this namespace."""
        modes = [a.split("=", 1)[1] for a in self.extra_args if a.startswith("--offload=")]
        return bool(modes) and modes[-1] == "hybrid"

    def _kernel_ruleset(self) -> subprocess.CompletedProcess:
        return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                              env=_base_env(), timeout=NFT_TIMEOUT_S)

    def check_bypass(self) -> str | None:
        # nfbpfd runs rulesets as BPF; the kernel's own nf_tables in this namespace must stay
        # empty. If it is not, nft talked to the kernel (shim not loaded or not intercepting) and
        # an "identical" result would be meaningless. In hybrid mode nfbpfd itself keeps kernel
        # tables here, each owned by its netlink socket (the kernel lists them with
        # "# progname nfbpfd" and "flags owner"); any other table is a bypass.
        p = self._kernel_ruleset()
        if p.returncode == 0 and not p.stdout.strip():
            return None
        if p.returncode == 0 and self.hybrid:
            foreign = [l for l in p.stdout.splitlines()
                       if l.startswith("table ") and "# progname nfbpfd" not in l]
            if not foreign:
                return None
        subprocess.run(["nft", "flush", "ruleset"], capture_output=True, env=_base_env(),
                       timeout=NFT_TIMEOUT_S)
        return ("bypassed nfbpfd: the kernel's ruleset in the nfbpf namespace is not empty:\n"
                + p.stdout[:500] + p.stderr[:200])

    def check_after_reset(self) -> str | None:
        # Hybrid: nfbpfd's `flush ruleset` must take its kernel tables with it (owner tables
        # cannot be flushed by anyone else, so a leak would survive into every later case).
        if not self.hybrid:
            return None
        p = self._kernel_ruleset()
        if p.returncode == 0 and not p.stdout.strip():
            return None
        self.restart()   # its owner tables go with its netlink socket
        return ("hybrid: kernel tables left after nfbpfd's flush ruleset; daemon restarted:\n"
                + p.stdout[:500] + p.stderr[:200])

    def reset(self) -> str | None:
        # A daemon that refuses `flush ruleset` would leak this case's state into every later
        # case; blame this case and start the next one on a fresh daemon.
        r = self.nft("reset", ["flush", "ruleset"])
        if r.rc == 0:
            return None
        # A daemon that died during the flush did not refuse it: report the death (the flush
        # fails as soon as the socket is gone, possibly before the process is reaped).
        if self.proc is not None:
            try:
                self.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.poll() is not None:
                return self.check_alive()
        self.restart()
        return f"flush ruleset refused after the case (exit {r.rc}: {r.stderr.strip()[:200]}); daemon restarted"

    def argv(self, args: list[str]) -> list[str]:
        return [self.nfbpf_run, "nft", *args]

    def env(self) -> dict[str, str]:
        env = _base_env()
        env["NFBPF_SOCKET"] = self.socket
        return env

    def cleanup(self) -> None:
        self.stop()
        try:
            if os.path.exists(self.socket):
                os.unlink(self.socket)
            os.rmdir(self.dir)
        except OSError:
            pass
