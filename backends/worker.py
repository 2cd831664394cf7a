"""Orchestrator side of one worker subprocess: start it, feed it cases, kill it.

A worker is `<env-python> -m backends.worker_main` in its own process group (so a kill takes
ptxas and any other child with it), with stderr appended to a log file. Every wait on it has a
deadline; a worker that closes its pipe has died, and the caller learns its signal or exit code.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from backends.worker_main import HEADER, MAX_FRAME, ProtocolError, decode_payload, encode_frame

__all__ = ["REPO_ROOT", "Reply", "WorkerProcess", "WorkerStartError", "read_log_tail"]

REPO_ROOT = Path(__file__).resolve().parent.parent


class WorkerStartError(RuntimeError):
    """The backend's worker could not start (bad env, import error): a setup problem, not a finding."""


@dataclass
class Reply:
    """What came back for one request: a result, or how the worker failed to give one."""

    kind: str  # "result" | "timeout" | "died" | "memory" (our RSS watchdog killed it)
    result: dict[str, Any] = field(default_factory=dict)
    stage: str = ""
    signal: int | None = None
    exit_code: int | None = None


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class _OverMemory(Exception):
    def __init__(self, rss: int) -> None:
        self.rss = rss


RSS_POLL_S = 0.25


def group_rss(pgid: int) -> int:
    """Resident bytes of every process in process group `pgid` (the worker and its ptxas, etc.)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def read_log_tail(path: Path, start: int, max_bytes: int) -> str:
    """Text the worker wrote to its log since offset `start`, at most the last `max_bytes`."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            begin = max(start, end - max_bytes)
            fh.seek(begin)
            return fh.read(end - begin).decode(errors="replace")
    except OSError:
        return ""


class WorkerProcess:
    """One live worker; not thread-safe (a Backend serialises access)."""

    def __init__(self, python: str, runner: str, options: dict[str, Any], log_path: Path,
                 cwd: Path, env: dict[str, str], memory_limit: int | None,
                 address_space_limit: bool = True, flags: dict[str, Any] | None = None) -> None:
        self.python = python
        self.flags = dict(flags or {})  # worker modes: coverage_every, guided (worker_main's docstring)
        self.guiding = False  # libFuzzer owns the worker's loop (after a "guide" request)
        self.runner = runner
        self.options = options
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.memory_limit = memory_limit
        self.address_space_limit = address_space_limit
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self._buf = bytearray()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float) -> dict[str, Any]:
        """Spawn, send init, wait for ready; returns the runner's info (versions, gpu)."""
        start_off = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            try:
                self.proc = subprocess.Popen(
                    [self.python, "-m", "backends.worker_main"], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=log, cwd=self.cwd, env=self.env,
                    start_new_session=True, close_fds=True)
            except OSError as e:
                raise WorkerStartError(f"cannot run {self.python}: {e}") from e
        msg = {"op": "init", "runner": self.runner, "options": self.options,
               "memory_limit": self.memory_limit if self.address_space_limit else None,
               "pdeathsig": threading.current_thread() is threading.main_thread(), **self.flags}
        try:
            self._send(msg)
            reply = self._read_frame(time.monotonic() + timeout)
        except (_Timeout, _Died, ProtocolError) as e:
            what = "did not start in time" if isinstance(e, _Timeout) else "died while starting"
            self.kill()
            tail = read_log_tail(self.log_path, start_off, 4096)
            raise WorkerStartError(f"worker for runner {self.runner} ({self.python}) {what}; "
                                   f"stderr:\n{tail}") from None
        if reply.get("op") != "ready":
            self.kill()
            raise WorkerStartError(f"worker for runner {self.runner} ({self.python}) failed to "
                                   f"initialise: {reply.get('exc_type')}: {reply.get('message')}\n"
                                   f"{reply.get('traceback', '')}")
        self.info = reply.get("info", {})
        return self.info

    def run(self, wire_case: dict[str, Any], options: dict[str, Any] | None, timeout: float) -> Reply:
        """Send one case; wait at most `timeout` s for its result (stage reports extend nothing)."""
        deadline = time.monotonic() + timeout
        stage = "frontend"
        try:
            self._send({"op": "run", "case": wire_case, "options": options or {}})
            while True:
                msg = self._read_frame(deadline)
                if msg.get("op") == "stage":
                    stage = str(msg.get("stage", stage))
                elif msg.get("op") == "result":
                    return Reply("result", msg.get("result", {}), stage=stage)
        except _Timeout:
            self.kill()
            return Reply("timeout", stage=stage)
        except _OverMemory as e:
            self.kill()
            return Reply("memory", {"rss": e.rss}, stage=stage)
        except (_Died, ProtocolError):
            sig, code = self._reap()
            return Reply("died", stage=stage, signal=sig, exit_code=code)

    def next_input(self, argv: list[str], timeout: float) -> bytes | None:
        """Guided mode: the next input libFuzzer made (starting libFuzzer first if it is not
        running in this worker); None when the worker died or timed out instead (it is killed)."""
        try:
            if not self.guiding:
                self._send({"op": "guide", "argv": list(argv)})
                self.guiding = True
            msg = self._read_frame(time.monotonic() + timeout)
        except (_Timeout, _Died, ProtocolError, _OverMemory):
            self.kill()
            return None
        if msg.get("op") != "input" or not isinstance(msg.get("data"), bytes):
            self.kill()
            return None
        return msg["data"]

    def input_done(self) -> None:
        """Guided mode: every run of the current input is done; libFuzzer may score it."""
        if self.guiding and self.alive():
            try:
                self._send({"op": "next"})
            except _Died:
                pass

    def close(self, grace: float = 2.0) -> None:
        """Ask the worker to exit, then make sure it did."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self._send({"op": "exit"})
            except _Died:
                pass  # already on its way out
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker's whole process group and reap it."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    # ----------------------------------------------------------------------------------------

    def _reap(self) -> tuple[int | None, int | None]:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # closed its pipe but lingers: finish it
            self.kill()
            rc = self.proc.returncode
        self.kill()  # children of a dead worker must not outlive it
        if rc is None:
            return None, None
        return (-rc, None) if rc < 0 else (None, rc)

    def _send(self, obj: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(encode_frame(obj))
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise _Died() from e

    def _read_frame(self, deadline: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        need = HEADER.size
        while True:
            if len(self._buf) >= HEADER.size:
                (n,) = HEADER.unpack_from(self._buf)
                if n > MAX_FRAME:
                    raise ProtocolError(f"frame of {n} bytes")
                need = HEADER.size + n
                if len(self._buf) >= need:
                    payload = bytes(self._buf[HEADER.size:need])
                    del self._buf[:need]
                    msg = decode_payload(payload)
                    if not isinstance(msg, dict):
                        raise ProtocolError(f"frame holds {type(msg).__name__}, not dict")
                    return msg
            self._fill(self.proc.stdout, deadline, need - len(self._buf))

    def _fill(self, stream: BinaryIO, deadline: float, want: int) -> None:
        fd = stream.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Timeout()
                if sel.select(timeout=min(left, RSS_POLL_S) if self.memory_limit else left):
                    break
                if self.memory_limit and self.proc is not None:
                    # The memory limit is enforced here, on resident memory, for every worker:
                    # RLIMIT_AS cannot be used once CUDA is loaded (it reserves far more address
                    # space than any limit), and a watchdog outside the worker needs no GIL.
                    rss = group_rss(self.proc.pid)
                    if rss > self.memory_limit:
                        raise _OverMemory(rss)
        chunk = os.read(fd, max(want, 1 << 16))
        if not chunk:
            raise _Died()
        self._buf += chunk
