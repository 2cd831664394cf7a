"""Lower linalg and execute it on CPU: the one entry point of the shared executor.

Used by every backend family whose compiler ends in linalg on this machine (triton-ascend's
adapter; a CPU fork's TTIR -> linalg tool). Two ways to lower, same semantics:

  engine  the executor service (service.py, its own process) lowers in-process with engine.cpp
          and keeps what it linked; default once the engine is built.
  tools   mlir-opt, mlir-translate, llc and cc per kernel (tools.py), in this process: the
          reference the engine is checked against, and the fallback while the engine is not
          built (`auto` starts that build in the background and switches when it is done).

Cross-release reuse (engine only): the lowering is cached by the normalised linalg
(normalize.key), and so is the execution, keyed by that plus the inputs and launch options; a
second release whose adapter emitted the same linalg gets both from the disk cache (cache.py).
`TRITONDIFF_LOWERING=tools|engine|auto` sets the default of the `lowering` option.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.linalg_exec import build, cache, normalize, tools
from backends.linalg_exec.convention import Convention
from backends.runner_api import StageError, Unsupported, report_stage

LOWER_TIMEOUT = 120.0
START_TIMEOUT = 1800.0  # the first start may build the engine
MODES = ("auto", "engine", "tools")
KEY_VERSION = "linalg-exec-1"


@dataclass
class Outcome:
    outputs: dict[str, bytes]
    lowered: str
    lower_s: float
    exec_s: float
    mode: str  # "engine" | "tools"
    lower_from: str  # "lowered" | "memory" | "disk" | "tools" | "tools-cache"
    reused: bool = False  # the execution result came from another worker's identical run
    saved_s: float = 0.0  # lowering + execution time the reuse saved
    lower_steps: dict[str, float] = field(default_factory=dict)
    key: str = ""
    obj_sha: str = ""  # sha256 of the kernel object (engine)


def default_mode() -> str:
    m = os.environ.get("TRITONDIFF_LOWERING", "auto")
    return m if m in MODES else "auto"


def pick_mode(mode: str | None) -> str:
    """`engine` or `tools` for this call; `auto` is the engine when built, else tools (and build it)."""
    mode = mode or default_mode()
    if mode not in MODES:
        raise ValueError(f"lowering must be one of {', '.join(MODES)}, not {mode!r}")
    if mode != "auto":
        return mode
    if build.engine_ready():
        return "engine"
    build.start_background_build()
    return "tools"


class _Service:
    """The executor service process (started on first use, restarted after it dies)."""

    def __init__(self) -> None:
        self.worker: Any = None
        self.scratch = Path(tempfile.mkdtemp(prefix="tritondiff-linalg-exec-"))
        self.log = self.scratch / "service.log"
        atexit.register(self.close_in, os.getpid())

    def get(self) -> Any:
        from backends.worker import REPO_ROOT, WorkerProcess, WorkerStartError

        if self.worker is not None and self.worker.alive():
            return self.worker
        if self.worker is not None:
            self.worker.kill()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "TRITON_INTERPRET")}
        env["PYTHONPATH"] = str(REPO_ROOT)
        import sys

        w = WorkerProcess(sys.executable, "backends.linalg_exec.service", {}, self.log, self.scratch,
                          env, None)
        try:
            w.start(START_TIMEOUT)
        except WorkerStartError as e:
            raise Unsupported(f"the linalg engine did not start: {e}") from None
        self.worker = w
        return w

    def tail(self, start: int) -> str:
        from backends.worker import read_log_tail

        return read_log_tail(self.log, start, 3000).strip()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def close_in(self, owner: int) -> None:
        """At exit of the process that started the service (not of a forked child)."""
        if os.getpid() == owner:
            self.close()
            shutil.rmtree(self.scratch, ignore_errors=True)


_service: _Service | None = None


def _svc() -> _Service:
    global _service
    if _service is None:
        _service = _Service()
    return _service


def shutdown() -> None:
    if _service is not None:
        _service.close()


def lowering_key(text: str, opt_level: int, verify_each: bool) -> str:
    lib = build.engine_ready() or ""
    return normalize.key(text, KEY_VERSION, tools.PIPELINE_VERSION, tools.MLIR_PASSES, int(opt_level),
                         bool(verify_each), os.path.basename(lib))


def run_key(lkey: str, conv: Convention, buffers: dict[str, dict], grid: tuple[int, int, int],
            guards: str, poison: int, guard_allocs: bool) -> str:
    h = hashlib.sha256(repr((lkey, conv.to_wire()["params"], conv.n_leading, list(grid), guards,
                             int(poison), bool(guard_allocs))).encode())
    for name in sorted(buffers):
        b = buffers[name]
        h.update(f"\0{name}\0{b['dtype']}\0".encode())
        h.update(bytes(b["data"]))
    return h.hexdigest()[:32]


def lower_and_run(text: str, conv: Convention, buffers: dict[str, dict], grid: tuple[int, int, int],
                  *, opt_level: int = 0, timeout: float = 20.0, guards: str = "after",
                  poison: int = 0xFF, guard_allocs: bool = True, lowering: str | None = None,
                  reuse: bool = True, verify_each: bool = True, execute: bool = True,
                  fresh: bool = False) -> Outcome:
    """Lower `text` (legalized linalg) and run it once per program id; raises Unsupported for our
    pipeline's limits and StageError(runtime-fault / runtime-timeout) for the kernel's faults."""
    mode = pick_mode(lowering)
    if mode == "tools":
        return _run_tools(text, conv, buffers, grid, opt_level, timeout, guards, poison, guard_allocs,
                          execute)
    lkey = lowering_key(text, opt_level, verify_each)
    use_runs = reuse and execute and not fresh
    rkey = run_key(lkey, conv, buffers, grid, guards, poison, guard_allocs) if use_runs else ""
    if rkey:
        hit = _reused(rkey, lkey)
        if hit is not None:
            return hit
    req = {"text": text, "key": lkey, "pipeline": tools.pipeline_text(), "opt_level": int(opt_level),
           "verify_each": bool(verify_each), "conv": conv.to_wire(), "buffers": buffers,
           "grid": [int(g) for g in grid], "timeout": float(timeout), "guards": guards,
           "poison": int(poison), "guard_allocs": bool(guard_allocs), "execute": bool(execute),
           "fresh": bool(fresh), "cache_dir": str(cache.root())}
    try:
        res = _ask(req, lkey, float(timeout))
    except StageError as e:
        if rkey and e.stage == "runtime-fault":  # deterministic; a timeout depends on the load
            cache.store_run(rkey, {"kind": "fault", "stage": e.stage, "exc_type": e.exc_type,
                                   "message": e.message, "lkey": lkey,
                                   "lower_s": float(e.artifacts.get("lower_s", 0.0) or 0.0)})
        raise
    out = Outcome(dict(res.get("outputs") or {}), str(res.get("lowered", "")), float(res["lower_s"]),
                  float(res["exec_s"]), "engine", str(res.get("lower_from", "")),
                  lower_steps=dict(res.get("lower_steps") or {}), key=lkey,
                  obj_sha=str(res.get("obj_sha", "")))
    if rkey:
        cache.store_run(rkey, {"kind": "ok", "outputs": out.outputs, "lkey": lkey,
                               "lower_s": out.lower_s, "exec_s": out.exec_s})
    return out


def _reused(rkey: str, lkey: str) -> Outcome | None:
    e = cache.load_run(rkey)
    if e is None:
        return None
    low = cache.load_lowered(lkey)
    lowered = low[1] if low is not None and low[0] == "ok" else ""
    sha = hashlib.sha256(low[2]).hexdigest() if low is not None and low[0] == "ok" else ""
    saved = float(e.get("lower_s", 0.0)) + float(e.get("exec_s", 0.0))
    if e["kind"] == "fault":
        err = StageError(str(e.get("stage", "runtime-fault")), str(e["exc_type"]), str(e["message"]),
                         artifacts={"lowered": lowered, "reused": f"execution of identical linalg {lkey}"})
        raise err
    return Outcome(dict(e["outputs"]), lowered, 0.0, 0.0, "engine", "disk", reused=True, saved_s=saved,
                   key=lkey, obj_sha=sha)


def _ask(req: dict, lkey: str, timeout: float) -> dict:
    svc = _svc()
    w = svc.get()
    start = svc.log.stat().st_size if svc.log.exists() else 0
    t0 = time.perf_counter()
    reply = w.run(req, {}, LOWER_TIMEOUT + timeout + 10.0)
    if reply.kind != "result":
        w.kill()
        where = "executing" if reply.stage == "execute" else "lowering"
        if reply.kind == "timeout":
            raise Unsupported(f"our linalg engine did not answer within {LOWER_TIMEOUT + timeout:.0f}s "
                              f"while {where}")
        how = f"signal {reply.signal}" if reply.signal else f"exit {reply.exit_code}"
        msg = f"our linalg engine died ({how}) while {where}: {svc.tail(start)[-1500:]}"
        if where == "lowering":
            cache.store_lowering_error(lkey, msg)  # the next release need not crash it again
        raise Unsupported(msg)
    if reply.stage == "execute":
        report_stage("execute")
    res = reply.result
    status = res.get("status")
    if status == "unsupported":
        raise Unsupported(str(res.get("message", "")))
    if status == "error":
        arts = {str(k): str(v) for k, v in (res.get("artifacts") or {}).items()}
        stage = str(res.get("stage", ""))
        if stage in ("runtime-fault", "runtime-timeout"):
            raise StageError(stage, str(res.get("exc_type", "")), str(res.get("message", "")),
                             artifacts=arts)
        raise Unsupported(f"our linalg engine failed: {res.get('exc_type')}: {res.get('message')}\n"
                          f"{str(res.get('traceback', ''))[-3000:]}")
    res.setdefault("lower_s", time.perf_counter() - t0)
    return res


def _run_tools(text: str, conv: Convention, buffers: dict[str, dict], grid: tuple[int, int, int],
               opt_level: int, timeout: float, guards: str, poison: int, guard_allocs: bool,
               execute: bool) -> Outcome:
    from backends.linalg_exec import execute as ex

    low = tools.lower_to_so(text, int(opt_level))
    if not execute:
        return Outcome({}, low.llvm_mlir, low.lower_s, 0.0, "tools",
                       "tools-cache" if low.cached else "tools")
    report_stage("execute")
    try:
        res = ex.run(low.so_path, conv, buffers, grid, timeout=timeout, guards=guards, poison=poison,
                     guard_allocs=guard_allocs)
    except StageError as e:
        e.artifacts = {"lowered": low.llvm_mlir, **e.artifacts}
        raise
    return Outcome(res.outputs, low.llvm_mlir, low.lower_s, res.exec_s, "tools",
                   "tools-cache" if low.cached else "tools")
