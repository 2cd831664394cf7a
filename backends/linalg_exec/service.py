"""The executor service: a runner (see backends.worker_main) that lowers linalg and executes it.

Why a process of its own: the engine runs MLIR in-process, and MLIR aborts on some malformed
input; that must cost this service (the client restarts it and reports `Unsupported`), never
the backend worker, whose death would read as a backend crash. It is long-lived, so the engine's
start-up (about 50 ms) is paid once, and it keeps every kernel it linked: the same linalg seen
again costs nothing.

Request (`run_case(request, options)`, builtin values only):
    text, key            legalized MLIR and its lowering key (normalize.key); cache_dir
    pipeline, opt_level, verify_each
    conv                 Convention.to_wire(); buffers, grid, timeout, guards, poison, guard_allocs
    execute              False: lower and link only
Result: ok_result(...) with `lowered`, `lower_s`, `exec_s`, `lower_from` ("lowered" | "memory" |
"disk"), `lower_steps`; a kernel fault is a StageError (runtime-fault / runtime-timeout) as before.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict

from backends.linalg_exec import cache, execute
from backends.linalg_exec.convention import Convention
from backends.runner_api import StageError, Unsupported, ok_result, report_stage

MAX_LINKED = 512  # kernels kept linked in this process (LRU)

_engine = None
# key -> (address, dylib, lowered text, object sha256, object)
_linked: OrderedDict[str, tuple[int, int, str, str, bytes]] = OrderedDict()


def prepare(options: dict) -> dict:
    """Start the engine now (worker_main calls this before answering `ready`)."""
    global _engine
    from backends.linalg_exec.engine import Engine

    _engine = Engine()
    return {"versions": {"engine": "mlir-19-inprocess"}, "pid": os.getpid()}


def _link(req: dict) -> tuple[int, str, str, float, dict, str]:
    """(address, lowered text, where it came from, seconds, step times, object sha256).

    `fresh` lowers even when a cache holds the key (to check that reuse is sound) and keeps
    nothing.
    """
    from backends.linalg_exec.engine import LowerError

    assert _engine is not None
    key = str(req["key"])
    fresh = bool(req.get("fresh"))
    t0 = time.perf_counter()
    hit = None if fresh else _linked.get(key)
    if hit is not None:
        _linked.move_to_end(key)
        if not cache.has_lowered(key):  # another cache directory (tests, benchmarks) or pruned
            cache.store_lowered(key, hit[2], hit[4])
        return hit[0], hit[2], "memory", time.perf_counter() - t0, {}, hit[3]
    symbol = f"_mlir_ciface_{req['conv']['kernel']}"
    stored = None if fresh else cache.load_lowered(key)
    steps: dict = {}
    if stored is not None and stored[0] == "error":
        raise Unsupported(stored[1])
    if stored is not None:
        lowered, obj, source = stored[1], stored[2], "disk"
    else:
        try:
            low = _engine.lower(str(req["text"]), str(req["pipeline"]), int(req["opt_level"]),
                                bool(req.get("verify_each", True)))
        except LowerError as e:
            msg = f"our lowering failed at {e}"
            if not fresh:
                cache.store_lowering_error(key, msg)
            raise Unsupported(msg) from None
        lowered, obj, source, steps = low.lowered, low.obj, "lowered", low.times
        if not fresh:
            cache.store_lowered(key, lowered, obj)
    sha = hashlib.sha256(obj).hexdigest()
    try:
        addr, dylib = _engine.load(obj, symbol)
    except LowerError as e:
        raise Unsupported(f"our lowering failed at {e}") from None
    if fresh:
        return addr, lowered, source, time.perf_counter() - t0, steps, sha
    _linked[key] = (addr, dylib, lowered, sha, obj)
    while len(_linked) > MAX_LINKED:
        _, (_, old, _, _, _) = _linked.popitem(last=False)
        _engine.unload(old)
    return addr, lowered, source, time.perf_counter() - t0, steps, sha


def run_case(req: dict, options: dict) -> dict:
    """Lower (or reuse) and execute one kernel; see the module docstring."""
    os.environ["TRITONDIFF_EXEC_CACHE"] = str(req["cache_dir"])  # the client's, which may change
    addr, lowered, source, lower_s, steps, sha = _link(req)
    extra = {"lowered": lowered, "lower_s": lower_s, "exec_s": 0.0, "lower_from": source,
             "lower_steps": steps, "obj_sha": sha}
    if not req.get("execute", True):
        return {**ok_result({}, executed=False, compile_s=0.0, run_s=lower_s), **extra}
    report_stage("execute")
    conv = Convention.from_wire(req["conv"])
    assert _engine is not None
    grid = tuple(int(g) for g in req["grid"])
    try:
        res = execute.run(execute.JitKernel(addr, _engine.runtime_path), conv, req["buffers"],
                          grid, timeout=float(req["timeout"]), guards=str(req["guards"]),  # type: ignore[arg-type]
                          poison=int(req["poison"]), guard_allocs=bool(req["guard_allocs"]))
    except StageError as e:
        e.artifacts = {"lowered": lowered, "lower_s": f"{lower_s:.6f}", "lower_from": source}
        raise
    extra["exec_s"] = res.exec_s
    return {**ok_result(res.outputs, executed=True, compile_s=0.0, run_s=lower_s + res.exec_s), **extra}
