"""Worker process: `<env-python> -m backends.worker_main`, run inside a backend's environment.

It imports only the stdlib at module level (the orchestrator imports this module for the frame
codec), then, on the init message, `backends.runner_api` and the backend's runner module.

Protocol: length-prefixed pickle frames of builtin-only dicts. The worker reads requests on
fd 0 and answers on a private duplicate of the original fd 1; fd 1 itself is then pointed at
stderr, so whatever triton, LLVM or ptxas print cannot corrupt the stream. stderr goes to the
per-worker log file that the orchestrator reads back when a case crashes.

    → {"op": "init", "runner": module, "options": {...}, "memory_limit": bytes | None}
    ← {"op": "ready", "info": {...}, "pid": int}   or   {"op": "init_error", ...}
    → {"op": "run", "case": wire_case, "options": {...}}
    ← {"op": "stage", "stage": str}*  then  {"op": "result", "result": {...}}
    → {"op": "exit"}

Init may ask for `coverage_every: N` (trace triton's own Python lines in one case of N; each
result then carries the lines this process had not reported before, `coverage`) and `guided: true`
(atheris instruments triton as it is imported). A guided worker, told `{"op": "guide", "argv"}`,
hands its main loop to atheris' libFuzzer: for every input libFuzzer makes it sends
`{"op": "input", "data": bytes}` and serves `run` requests for it (the orchestrator generates and
judges the kernel) until `{"op": "next"}`; libFuzzer then scores the coverage those runs reached.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

HEADER = struct.Struct(">Q")
PICKLE_PROTOCOL = 4  # readable by every Python a backend env may have (3.8+)
MAX_FRAME = 1 << 34


class ProtocolError(RuntimeError):
    """The peer sent something that is not a frame of builtin values."""


class _BuiltinUnpickler(pickle.Unpickler):
    """Refuses every global: frames carry only dicts, lists, str, bytes, numbers, bools, None."""

    def find_class(self, module: str, name: str) -> Any:
        raise ProtocolError(f"frame references {module}.{name}; only builtin values are allowed")


def encode_frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=PICKLE_PROTOCOL)
    return HEADER.pack(len(data)) + data


def decode_payload(data: bytes) -> Any:
    return _BuiltinUnpickler(io.BytesIO(data)).load()


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> Any:
    """Blocking read of one frame; None on a clean EOF."""
    head = _read_exact(stream, HEADER.size)
    if head is None:
        return None
    (n,) = HEADER.unpack(head)
    if n > MAX_FRAME:
        raise ProtocolError(f"frame of {n} bytes")
    data = _read_exact(stream, n)
    if data is None:
        raise ProtocolError("EOF inside a frame")
    return decode_payload(data)


# --------------------------------------------------------------------------------------------
# worker side


def _die_with_parent(use_pdeathsig: bool) -> None:
    """Do not outlive the orchestrator, even mid-hang.

    A watchdog thread kills the worker's process group once the parent is gone. It needs the
    GIL, which a native hang may hold, so when the orchestrator spawned us from its main thread
    we also ask Linux for SIGKILL on parent death (PR_SET_PDEATHSIG fires when the *thread* that
    forked us ends, which is why it is not used for workers spawned from other threads).
    """
    import signal
    import threading

    parent = os.getppid()
    if use_pdeathsig:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except Exception:
            pass

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="tritondiff-parent-watch", daemon=True).start()


def _limit_resources(memory_limit: int | None) -> None:
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    if memory_limit:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        lim = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (lim, hard))


def _gpu_runtime_mapped() -> bool:
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return False
    return any(lib in maps for lib in ("libcuda.so", "libcudart", "libamdhip64", "libhsa-runtime"))


def _error_result(stage: str, e: BaseException) -> dict:
    return {"status": "error", "stage": stage, "exc_type": type(e).__name__, "message": str(e),
            "traceback": "".join(traceback.format_exception(type(e), e, e.__traceback__))}


def _run_one(runner: Any, api: Any, case: dict, options: dict, stage: list[str]) -> dict:
    try:
        res = runner.run_case(case, options)
    except api.StageError as e:
        res = {"status": "error", "stage": e.stage, "exc_type": e.exc_type, "message": e.message,
               "traceback": e.traceback, "artifacts": e.artifacts}
    except api.Unsupported as e:
        res = {"status": "unsupported", "stage": stage[0], "message": str(e)}
    except Exception as e:  # a runner bug or an uncaught backend exception
        res = _error_result(stage[0] if stage[0] in ("frontend", "compile", "lower", "launch", "run")
                            else "frontend", e)
    except SystemExit as e:  # something called sys.exit(): report it instead of dying silently
        res = _error_result(stage[0], e)
    if not isinstance(res, dict) or "status" not in res:
        res = {"status": "error", "stage": stage[0], "exc_type": "RunnerError",
               "message": f"runner returned {type(res).__name__}, not a result dict"}
    return res


def main() -> int:
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    os.dup2(2, 1)  # prints from the backend now go to the log, never into the protocol
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    import faulthandler

    faulthandler.enable(file=sys.stderr, all_threads=True)

    def send(obj: Any) -> None:
        view = memoryview(encode_frame(obj))
        while view:
            n = proto_out.write(view)
            view = view[n or 0:]

    init = read_frame(proto_in)
    if not init or init.get("op") != "init":
        return 2
    _die_with_parent(bool(init.get("pdeathsig")))
    _limit_resources(None)
    try:
        import importlib

        from backends import runner_api as api

        if init.get("guided"):  # instrument triton for libFuzzer's coverage as it is imported, lazily too
            import atheris

            atheris.instrument_imports(include=COVERED_PACKAGES, exclude=NOT_GUIDED).__enter__()
        runner = importlib.import_module(init["runner"])
        info = runner.prepare(init["options"]) if hasattr(runner, "prepare") else {}
        tracer = None
        if init.get("coverage_every"):
            from backends.line_coverage import LineTracer, package_roots

            roots = package_roots(COVERED_PACKAGES)
            tracer = LineTracer(roots) if roots else None
    except BaseException as e:
        send({"op": "init_error", "exc_type": type(e).__name__, "message": str(e),
              "traceback": "".join(traceback.format_exception(type(e), e, e.__traceback__))})
        return 3
    info = dict(info or {})
    # RLIMIT_AS only where no GPU runtime is mapped: CUDA/HIP reserve tens of GiB of address space
    # at load, so a compile-only worker on a GPU box (torch imported, an arch other than the GPU's)
    # would get false MemoryErrors. There the orchestrator's RSS watchdog is the limit.
    if init.get("memory_limit") and not info.get("gpu") and not _gpu_runtime_mapped():
        _limit_resources(init.get("memory_limit"))
        info["memory_guard"] = "rlimit-as+rss"
    else:
        info["memory_guard"] = "rss"
    send({"op": "ready", "info": info, "pid": os.getpid()})

    stage = ["frontend"]

    def hook(s: str) -> None:
        stage[0] = s
        send({"op": "stage", "stage": s})

    api.set_stage_hook(hook)
    _Server(runner, api, init, stage, send, proto_in, tracer).serve(nested=False)
    if hasattr(runner, "shutdown"):
        runner.shutdown()
    return 0


COVERED_PACKAGES = ["triton"]  # triton.language, the code generator, semantics, backend drivers
NOT_GUIDED = ["triton.experimental"]  # gluon: no generated kernel reaches it; instrumenting it costs ~half the start


class _Server:
    """The request loop, also run nested inside libFuzzer's callback in guided mode."""

    def __init__(self, runner: Any, api: Any, init: dict, stage: list[str], send: Any,
                 proto_in: BinaryIO, tracer: Any) -> None:
        self.runner, self.api, self.init, self.stage = runner, api, init, stage
        self.send, self.proto_in, self.tracer = send, proto_in, tracer
        self.every = int(init.get("coverage_every") or 0)
        self.count = 0

    def serve(self, nested: bool) -> str:
        """Answer requests until exit ("exit") or, nested, until the input is done ("next")."""
        while True:
            msg = read_frame(self.proto_in)
            op = msg.get("op") if msg else "exit"
            if op == "exit":
                return "exit"
            if op == "next" and nested:
                return "next"
            if op == "guide" and not nested:
                self.fuzz([str(a) for a in msg.get("argv") or []])  # returns only if libFuzzer does
                return "exit"
            if op != "run":
                continue
            if self.run(msg):
                return "exit"

    def run(self, msg: dict) -> bool:
        """One case; True when the runner asks for a fresh process afterwards."""
        self.stage[0] = "frontend"
        traced = self.tracer is not None and self.every > 0 and self.count % self.every == 0
        self.count += 1
        t0 = time.perf_counter()
        if traced:
            self.tracer.start()
        try:
            res = _run_one(self.runner, self.api, msg["case"],
                           {**self.init["options"], **(msg.get("options") or {})}, self.stage)
        finally:
            if traced:
                self.tracer.stop()
        res.setdefault("worker_s", time.perf_counter() - t0)
        if traced:
            res["coverage"] = self.tracer.take_new()
        restart = bool(getattr(self.runner, "needs_restart", lambda: False)())
        if restart:  # e.g. a device fault poisoned the CUDA context: this process is done
            res["worker_restart"] = True
        sys.stderr.flush()
        self.send({"op": "result", "result": res})
        return restart

    def fuzz(self, argv: list[str]) -> None:
        """libFuzzer drives from here on; each input is generated and judged by the orchestrator."""
        import atheris

        def one_input(data: bytes) -> None:
            self.send({"op": "input", "data": bytes(data)})
            if self.serve(nested=True) == "exit":
                if hasattr(self.runner, "shutdown"):
                    self.runner.shutdown()
                sys.stderr.flush()
                os._exit(0)

        atheris.Setup([sys.argv[0], *argv], one_input)
        atheris.Fuzz()


if __name__ == "__main__":
    sys.exit(main())
