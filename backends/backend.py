"""`open_backend(name)`: the one object the rest of tritondiff uses to run a case on a backend.

A Backend owns at most one live worker. A case that crashes or hangs the worker costs that case
only: the worker is killed (whole process group), the result says `crash` or `timeout` with the
stderr written during the case, and the next case transparently gets a fresh worker.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from backends.envs import ensure_env
from backends.registry import BackendConfig, resolve
from backends.result import RunResult
from backends.runner_api import STORAGE
from backends.worker import REPO_ROOT, Reply, WorkerProcess, read_log_tail
from generators.case import KernelCase

__all__ = ["DEFAULT_MEMORY_LIMIT_GB", "Backend", "open_backend"]

DEFAULT_MEMORY_LIMIT_GB = 8.0
_open: weakref.WeakSet[Backend] = weakref.WeakSet()


def open_backend(name: str, **opts: Any) -> Backend:
    """Resolve `name` (see backends.registry) and return a Backend; the worker starts lazily.

    Options: env_python (use an external Python instead of a managed env), memory_limit_gb
    (resident memory of the worker's process group, watched by the orchestrator; also its RLIMIT_AS
    where no GPU runtime is loaded; None for no limit), address_space_limit (False: the RSS watch
    alone), confirm_deaths (False: report a worker death at once, without the confirming retry;
    the reducer, whose finding was confirmed when found, runs many crashing candidates), log_dir
    (keep worker logs there), startup_timeout, stderr_tail_bytes, runner_options (merged into
    the runner's options, e.g. {"specialize": False, "compile_options": {"num_stages": 2}},
    or {"execute": "never"} to keep a cuda/hip backend compile-only on a GPU machine).
    `Backend.run(case, timeout, options)` takes the same runner options for one case.
    coverage_every (trace triton's Python lines in one case of N, results carry the new ones),
    guided (atheris instruments triton in the worker: `next_input`/`input_done`, fuzz/guided.py).
    """
    env_python = opts.pop("env_python", None)
    return Backend(resolve(name, env_python=env_python), **opts)


class Backend:
    """A named backend with a long-lived worker; use as a context manager or call close()."""

    def __init__(self, config: BackendConfig, *, memory_limit_gb: float | None = DEFAULT_MEMORY_LIMIT_GB,
                 log_dir: str | os.PathLike[str] | None = None, startup_timeout: float = 300.0,
                 stderr_tail_bytes: int = 4096, runner_options: dict[str, Any] | None = None,
                 address_space_limit: bool = True, confirm_deaths: bool = True,
                 coverage_every: int = 0, guided: bool = False) -> None:
        self.config = config
        self.flags: dict[str, Any] = {"coverage_every": int(coverage_every), "guided": bool(guided)}
        self.name = config.name
        self.memory_limit = int(memory_limit_gb * (1 << 30)) if memory_limit_gb else None
        self.address_space_limit = address_space_limit
        self.confirm_deaths = confirm_deaths
        self.startup_timeout = startup_timeout
        self.stderr_tail_bytes = stderr_tail_bytes
        self.runner_options = {**config.options, **(runner_options or {})}
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)
        self._scratch = Path(tempfile.mkdtemp(prefix=f"tritondiff-{safe}-"))
        if log_dir is not None:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            self.log_path = Path(log_dir) / f"{safe}-{os.getpid()}-{int(time.time())}.log"
        else:
            self.log_path = self._scratch / "worker.log"
        self._worker: WorkerProcess | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.versions: dict[str, str] = {}
        self.restarts = 0
        self.harness_events = 0  # deaths that did not reproduce, memory-limit kills, MemoryErrors
        self.last_note = ""
        _open.add(self)

    # -- lifecycle ---------------------------------------------------------------------------

    def warm(self) -> dict[str, Any]:
        """Build the env if needed and start the worker now (imports are slow); returns its info."""
        with self._lock:
            return self._ensure_worker().info

    def close(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.close()
                self._worker = None
            if not self._closed:
                self._closed = True
                shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def worker_pid(self) -> int | None:
        """Pid of the live worker (tests kill it to simulate a crash), None when none runs."""
        w = self._worker
        return w.pid if w is not None and w.alive() else None

    # -- running -----------------------------------------------------------------------------

    def run(self, case: KernelCase, timeout: float = 60.0,
            options: dict[str, Any] | None = None) -> RunResult:
        """Run one case; never raises for what the backend does (only for setup problems)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"backend {self.name} is closed")
            wire = case.to_wire()
            reply, wall, tail = self._attempt(wire, options, timeout)
            if reply.kind == "died" and self.confirm_deaths:
                # A death is a finding only when it reproduces: an outside kill -9 or the OOM
                # killer ends one attempt, not the kernel. Retry once on a fresh worker.
                first = reply
                reply, wall2, tail = self._attempt(wire, options, timeout)
                wall += wall2
                if reply.kind == "died" and reply.signal == signal.SIGKILL and first.signal == signal.SIGKILL:
                    return self._harness("worker killed by SIGKILL twice with no memory limit hit (killed "
                                         "from outside, or by the kernel's OOM killer): a harness event",
                                         reply.stage, wall, tail)
                if reply.kind != "died":
                    self.harness_events += 1
                    self.last_note = f"worker died once ({_death(first)}) and the retry did not: a harness event"
            if reply.kind == "memory":
                return self._harness(f"worker exceeded its memory limit ({reply.result.get('rss', 0) >> 20} MiB "
                                     f"resident > {(self.memory_limit or 0) >> 20} MiB): a harness event",
                                     reply.stage, wall, tail)
            if reply.kind == "result" and reply.result.get("exc_type") == "MemoryError":
                return self._harness("MemoryError inside the worker (its memory limit): a harness event, "
                                     "not a diagnostic", str(reply.result.get("stage", "")), wall, tail)
            return self._to_result(case, reply, wall, tail, timeout)

    def next_input(self, argv: list[str], timeout: float) -> bytes | None:
        """Guided backends: the next input atheris' libFuzzer made in the worker (started there
        with `argv` when the worker is fresh); None when the worker died or timed out meanwhile."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"backend {self.name} is closed")
            worker = self._ensure_worker()
            data = worker.next_input(argv, timeout)
            if data is None:
                self._worker = None
            return data

    def input_done(self) -> None:
        """Guided backends: the current input's runs are over; libFuzzer scores its coverage."""
        with self._lock:
            if self._worker is not None:
                self._worker.input_done()

    def _attempt(self, wire: dict[str, Any], options: dict[str, Any] | None,
                 timeout: float) -> tuple[Reply, float, str]:
        worker = self._ensure_worker()
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        t0 = time.monotonic()
        reply = worker.run(wire, options, timeout)
        wall = time.monotonic() - t0
        if reply.kind == "result" and reply.result.pop("worker_restart", False):
            worker.close(grace=10.0)  # it exits by itself; let it tear down its device
            self._worker = None
        elif reply.kind != "result" or not worker.alive():
            worker.kill()
            self._worker = None
        return reply, wall, read_log_tail(self.log_path, log_start, self.stderr_tail_bytes)

    def _harness(self, message: str, stage: str, wall: float, tail: str) -> RunResult:
        """Our own failure to run the case (never a finding): status "harness"."""
        self.harness_events += 1
        return RunResult(backend=self.name, status="harness", stage=stage, message=message, wall_s=wall,
                         stderr_tail=tail, versions=dict(self.versions))

    def _ensure_worker(self) -> WorkerProcess:
        if self._worker is not None and self._worker.alive():
            return self._worker
        if self._worker is not None:
            self._worker.kill()
            self.restarts += 1
        if self.flags["guided"]:
            from backends.envs import ensure_tool

            python = str(ensure_tool(self.config.env, "atheris"))
        else:
            python = str(ensure_env(self.config.env))
        w = WorkerProcess(python, self.config.runner, self.runner_options, self.log_path,
                          self._scratch, self._worker_env(), self.memory_limit, self.address_space_limit,
                          self.flags)
        w.start(self.startup_timeout)
        self.versions = dict(w.info.get("versions", {}))
        self._worker = w
        return w

    def _worker_env(self) -> dict[str, str]:
        """The worker's environment: our repo on PYTHONPATH and nothing of our own Python's."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "TRITON_INTERPRET", "VIRTUAL_ENV")}
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("TRITON_CACHE_DIR", str(self._scratch / "triton-cache"))
        return env

    def _to_result(self, case: KernelCase, reply: Reply, wall: float, tail: str,
                   timeout: float) -> RunResult:
        r = RunResult(backend=self.name, status="error", wall_s=wall, versions=dict(self.versions))
        if reply.kind == "timeout":
            r.status, r.stage, r.stderr_tail = "timeout", reply.stage, tail
            r.message = f"no result within {timeout:g}s; worker killed"
            return r
        if reply.kind == "died":
            r.status, r.stage, r.stderr_tail = "crash", reply.stage, tail
            r.signal, r.exit_code = reply.signal, reply.exit_code
            if reply.signal is not None:
                try:
                    sig_name = signal.Signals(reply.signal).name
                except ValueError:
                    sig_name = str(reply.signal)
                r.message = f"worker killed by {sig_name}"
            else:
                r.message = f"worker exited with code {reply.exit_code}"
            return r
        res = reply.result
        r.status = str(res.get("status", "error"))
        r.stage = str(res.get("stage", ""))
        r.exc_type = str(res.get("exc_type", ""))
        r.message = str(res.get("message", ""))
        r.traceback = str(res.get("traceback", ""))
        r.executed = bool(res.get("executed", False))
        r.compile_s = float(res.get("compile_s", 0.0))
        r.launch_s = float(res.get("launch_s", 0.0))
        r.run_s = float(res.get("run_s", 0.0))
        r.launcher = str(res.get("launcher", ""))
        cov = res.get("coverage")
        if isinstance(cov, dict):
            r.coverage = {str(k): [int(n) for n in v] for k, v in cov.items() if isinstance(v, list)}
        r.artifacts = {str(k): str(v) for k, v in (res.get("artifacts") or {}).items()}
        r.versions.update({str(k): str(v) for k, v in (res.get("versions") or {}).items()})
        for name, data in (res.get("outputs") or {}).items():
            buf = case.buffers.get(name)
            if buf is not None:
                r.outputs[name] = np.frombuffer(data, dtype=STORAGE[buf.dtype]).copy()
        if r.status != "ok":
            r.stderr_tail = tail
        return r


def _death(reply: Reply) -> str:
    if reply.signal is not None:
        try:
            return signal.Signals(reply.signal).name
        except ValueError:
            return f"signal {reply.signal}"
    return f"exit code {reply.exit_code}"


def close_quietly(backends: Any) -> None:
    """Close every backend given; one that fails to close (a dead worker) does not stop the rest."""
    for b in list(backends):
        try:
            b.close()
        except Exception:
            pass


@atexit.register
def _close_all() -> None:
    close_quietly(_open)
