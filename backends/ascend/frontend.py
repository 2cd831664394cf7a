"""Run triton-ascend's own compiler stages up to `ttadapter` (TTIR -> linalg) inside its env.

Why stage by stage instead of `triton.compile`: the stage after `ttadapter` needs Huawei's CANN
toolkit, absent here; and calling the stages ourselves keeps every stage text and tells a Python
exception in the frontend apart from a crash or a diagnostic of `triton-adapter-opt`. We build
the ASTSource the way `JITFunction.run` does (pointer divisibility, ints equal to 1 specialised),
so the adapter sees what a real `kernel[grid](...)` launch would give it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from backends.linalg_exec.convention import Param
from backends.linalg_exec.tools import cleanup_dir
from backends.runner_api import StageError, Unsupported, report_stage

TRITON_SIG = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp64": "fp64", "int8": "i8",
              "int16": "i16", "int32": "i32", "int64": "i64", "int1": "i1",
              "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64", "fp8e4nv": "fp8e4nv", "fp8e5": "fp8e5"}
ALIGNED_ADDR = 1 << 16  # what our stand-in pointers report: 16-byte aligned, like torch tensors


@dataclass
class Compiled:
    ttir: str
    linalg: str
    params: list[Param]  # passed to the kernel after specialisation, in order
    frontend_s: float
    adapter_s: float
    artifacts: dict[str, str] = field(default_factory=dict)


class _PtrStandIn:
    """What JITFunction sees for a tensor argument: an aligned data_ptr and a shape."""

    def __init__(self, size: int) -> None:
        self.shape = (size,)

    def data_ptr(self) -> int:
        return ALIGNED_ADDR


_modules: dict[str, Any] = {}
_srcdir: str | None = None


def load_kernel(source: str, kernel_name: str) -> Any:
    """Import the case source from a real file (triton reads it with inspect); cached by content."""
    global _srcdir
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    if key not in _modules:
        if _srcdir is None or not os.path.isdir(_srcdir):
            _srcdir = tempfile.mkdtemp(prefix="tritondiff-ascend-src-")
            atexit.register(cleanup_dir, _srcdir, os.getpid())
        path = os.path.join(_srcdir, f"tdk_{key}.py")
        with open(path, "w") as f:
            f.write(source)
        name = f"tritondiff_kernel_{key}"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = mod
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        _modules[key] = mod
    fn = getattr(_modules[key], kernel_name, None)
    if fn is None:
        raise Unsupported(f"kernel {kernel_name!r} not defined by the case source")
    return fn


def _release_modules() -> tuple[Any, Any, Any]:
    from triton._C.libtriton import ir
    from triton.backends.compiler import GPUTarget
    from triton.compiler.compiler import ASTSource, make_backend
    return ir, GPUTarget, (ASTSource, make_backend)


class _TimedSubprocess:
    """Stands in for the `subprocess` module inside triton-ascend's compiler during ttadapter."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def run(self, cmd: Any, *args: Any, **kwargs: Any) -> subprocess.CompletedProcess:
        kwargs.setdefault("timeout", self.timeout)
        rec: dict[str, Any] = {"cmd": list(cmd) if not isinstance(cmd, str) else [cmd]}
        self.calls.append(rec)
        r = subprocess.run(cmd, *args, **kwargs)
        rec["stderr"] = r.stderr
        return r


def versions() -> dict[str, str]:
    import triton
    out = {"triton": getattr(triton, "__version__", "?")}
    for dist in ("triton-ascend", "triton_ascend"):
        try:
            out["triton-ascend"] = importlib.metadata.version(dist)
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def adapter_path() -> str:
    import triton
    base = os.path.join(os.path.dirname(triton.__file__), "backends")
    for sub in ("ascend", "huawei"):
        p = os.path.join(base, sub, "triton-adapter-opt")
        if os.path.exists(p):
            return p
    return ""


def _decode(b: Any) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b or "")


def _specialise(fn: Any, case: dict, backend: Any, specialize: bool) -> tuple[dict, dict, Any, list[Param]]:
    params = fn.params
    args = case["args"]
    if [p.name for p in params] != [a["name"] for a in args]:
        raise Unsupported(f"case args {[a['name'] for a in args]} do not match kernel parameters "
                          f"{[p.name for p in params]}")
    sizes = {n: b["size"] for n, b in case["buffers"].items()}
    vals = [_PtrStandIn(sizes.get(a["buffer"], 0)) if a["kind"] == "ptr" else a["value"] for a in args]
    constants = {a["name"]: a["value"] for a in args if a["kind"] == "constexpr"}
    signature = {a["name"]: ("*" + TRITON_SIG[a["dtype"]] if a["kind"] == "ptr" else TRITON_SIG[a["dtype"]])
                 for a in args if a["kind"] != "constexpr"}
    attrs = None
    if specialize:
        attrs = backend.get_attrs_descriptor(params, vals)
        for idx, v in attrs.get_constants().items():
            constants[params[idx].name] = v
    passed = [Param(a["name"], a["kind"], a["dtype"], a.get("buffer"), a.get("value"))
              for a in args if a["kind"] != "constexpr" and a["name"] not in constants]
    return signature, constants, attrs, passed


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """triton prints (static_print, tuning warnings) must not reach the worker's protocol stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


def compile_case(case: dict, options: dict) -> Compiled:
    """Frontend (AST -> TTIR) then the adapter (TTIR -> linalg), classifying failures by stage."""
    with _stdout_to_stderr():
        return _compile_case(case, options)


def _prepare(case: dict, options: dict) -> tuple[Any, Any, Any, dict, list[Param], Any]:
    """Kernel import, JIT-style specialisation and release options (-> backend, src, opts, stages)."""
    _, GPUTarget, (ASTSource, make_backend) = _release_modules()
    target = GPUTarget("npu", options.get("arch", "Ascend910B3"), 0)
    backend = make_backend(target)
    fn = load_kernel(case["source"], case["kernel_name"])
    signature, constants, attrs, passed = _specialise(fn, case, backend, options.get("specialize", True))
    # the runner's own options, then a metamorphic variant's (the case's launch block)
    adapter_opts = {**(options.get("adapter_options") or {}),
                    **((case.get("launch") or {}).get("ascend_options") or {})}
    opt_cls = type(backend.parse_options({}))
    unknown = [k for k in adapter_opts if k not in opt_cls.__dataclass_fields__]
    if unknown:
        raise Unsupported(f"options {unknown} are not known to this triton-ascend release")
    opts = backend.parse_options({"num_warps": case.get("num_warps", 4), **adapter_opts})
    stages: dict[str, Any] = {}
    backend.add_stages(stages, opts)
    if "ttadapter" not in stages:
        raise Unsupported(f"options {adapter_opts} skip the ttadapter stage (stages: {list(stages)})")
    src = ASTSource(fn, signature, constants, attrs) if attrs is not None else ASTSource(fn, signature, constants)
    return backend, src, opts, stages, passed, target


def _compile_case(case: dict, options: dict) -> Compiled:
    ir = _release_modules()[0]
    t0 = time.perf_counter()
    try:
        backend, src, opts, stages, passed, target = _prepare(case, options)
    except (Unsupported, StageError):
        raise
    except Exception as e:  # noqa: BLE001 - importing the kernel, specialising: the frontend's
        raise StageError("frontend", type(e).__name__, str(e), traceback.format_exc()) from None
    metadata = {"hash": hashlib.sha256(case["source"].encode()).hexdigest(), "target": target,
                **opts.__dict__}
    ctx = ir.context()
    ir.load_dialects(ctx)
    backend.load_dialects(ctx)
    try:
        mod = src.make_ir(opts, backend.get_codegen_implementation(), backend.get_module_map(), ctx)
        mod = stages["ttir"](mod, metadata)
        ttir = str(mod)
    except Exception as e:  # noqa: BLE001 - any exception here is the frontend's
        raise StageError("frontend", type(e).__name__, str(e), traceback.format_exc()) from None
    t1 = time.perf_counter()
    report_stage("adapter")
    g = stages["ttadapter"].__globals__
    proxy = _TimedSubprocess(float(options.get("adapter_timeout", options.get("timeout", 60))))
    saved = g.get("subprocess")
    g["subprocess"] = proxy
    arts = {"ttir": ttir}
    try:
        linalg = stages["ttadapter"](mod, metadata)
    except subprocess.CalledProcessError as e:
        err = _decode(e.stderr)
        arts["adapter_cmd"] = " ".join(map(str, e.cmd))
        if e.returncode < 0:
            try:
                sig = signal.Signals(-e.returncode).name
            except ValueError:
                sig = f"signal {-e.returncode}"
            raise StageError("adapter-crash", sig, f"triton-adapter-opt died with {sig}\n{err}",
                             "", arts) from None
        raise StageError("adapter-error", "CalledProcessError",
                         f"triton-adapter-opt exited {e.returncode}\n{err}", "", arts) from None
    except subprocess.TimeoutExpired as e:
        raise StageError("adapter-timeout", "TimeoutExpired",
                         f"triton-adapter-opt ran longer than {e.timeout}s", "", arts) from None
    except Exception as e:  # noqa: BLE001 - Python inside triton-ascend around the adapter
        raise StageError("frontend", type(e).__name__, str(e), traceback.format_exc(), arts) from None
    finally:
        g["subprocess"] = saved
        if hasattr(ctx, "disable_multithreading"):
            ctx.disable_multithreading()
    t2 = time.perf_counter()
    if proxy.calls:
        arts["adapter_cmd"] = " ".join(map(str, proxy.calls[-1]["cmd"]))
        stderr = _decode(proxy.calls[-1].get("stderr"))
        if stderr.strip():
            arts["adapter_stderr"] = stderr
    return Compiled(ttir, linalg, passed, t1 - t0, t2 - t1, arts)
