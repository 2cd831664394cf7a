"""Compile-only path of the triton runner: cuda/hip on a machine without that GPU, and xpu.

xpu (the triton-xpu wheel) is always compile-only here: its target is a dict of the Intel GPU's
device properties (backends.xpu_devices), and its stages (ttir, ttgir, llir, spv) are reported
one by one so a failure names the pass pipeline that raised it.

`triton.compile(ASTSource(fn, ...), target=GPUTarget(...))` works on CPU, but ASTSource's
signature, constexpr and attribute formats changed across releases 3.0 … 3.9; this module
adapts to the installed one by introspection and mirrors what a real launch would specialise.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from backends.runner_api import Unsupported, ok_result, report_stage
from backends.triton_common import TRITON_TYPE, artifacts_of, launch_options, scalar_value, stage_error


def find_hip_lld(triton_version: str) -> str | None:
    """Triton ≤3.4 links hsaco with an external ld.lld; point it at one, or say why we can't.

    Returns None when linking will work, else the reason (cases then come back unsupported).
    """
    parts = triton_version.split(".")
    if not (len(parts) >= 2 and parts[0] == "3" and parts[1].isdigit() and int(parts[1]) <= 4):
        return None  # 3.5+ links in-process
    if os.environ.get("TRITON_HIP_LLD_PATH") and os.path.isfile(os.environ["TRITON_HIP_LLD_PATH"]):
        return None
    candidates = ["/opt/rocm/llvm/bin/ld.lld", "/usr/bin/ld.lld"]
    candidates += [shutil.which(f"ld.lld-{v}") or "" for v in range(22, 13, -1)]
    candidates += [f"/usr/lib/llvm-{v}/bin/ld.lld" for v in range(22, 13, -1)]
    for c in candidates:
        if c and os.path.isfile(c):
            os.environ["TRITON_HIP_LLD_PATH"] = c
            return None
    return (f"hip on triton {triton_version} links with ld.lld, which is not installed "
            "(apt-get install lld-19, or set TRITON_HIP_LLD_PATH)")


def compile_only(triton: Any, fn: Any, case: dict, options: dict, lld_missing: str | None = None) -> dict:
    """Compile for the options' GPU target without a GPU; returns a result dict with IR artifacts."""
    from triton.backends.compiler import GPUTarget

    target = gpu_target(GPUTarget, options)
    compile_opts = {"num_warps": case.get("num_warps", 4), **options.get("compile_options", {}),
                    **launch_options(case, options["family"])}
    if options["family"] == "hip" and lld_missing:
        raise Unsupported(lld_missing)
    stage = {"now": "compile"}  # backend set-up before make_ir is not the frontend
    _STAGE_SINK["now"] = stage
    _STAGE_SINK["texts"] = {}
    try:
        src = _compile_source(fn, case, target, stage, options.get("specialize", True))
    except Exception as e:
        raise stage_error("frontend", e) from e
    t0 = time.perf_counter()
    diag: list[str] = []
    try:
        with mlir_diagnostics(diag, options["family"] == "xpu"):
            kernel = triton.compile(src, target=target, options=compile_opts)
    except Exception as e:
        # The IR of the stages that did finish (instrumented backends only): what the failing one got.
        err = stage_error(_compile_stage(e, stage["now"]), e, artifacts_of(_STAGE_SINK["texts"]) or None)
        if diag:  # "PassManager::run failed" alone says nothing of which op failed how
            err.message = f"{err.message}: {diag[0]}"
        raise err from e
    compile_s = time.perf_counter() - t0
    return ok_result({}, executed=False, compile_s=compile_s, run_s=0.0,
                     artifacts=artifacts_of(getattr(kernel, "asm", {})))


_MLIR_ERROR = re.compile(r"(?:^|:\d+:\d+\)?: )(error: .*)$", re.M)  # `f.py:7:12: ` or (<= 3.2) `loc("f.py":7:12): `
_ASSERTION = re.compile(r"([\w.]+\.(?:cpp|h|hpp)):\d+: .*?(Assertion `.*)$", re.M)
_GENERIC = "error: Failures have been detected"
# MLIR's note after the generic error: which pass of the pipeline it was
_FAILED_PASS = re.compile(r"Pipeline failed while executing \[`([\w-]+)`")


def diagnostics(text: str) -> list[str]:
    """The MLIR `error:` lines and C++ assertions of a compile's stderr, most specific first.

    An op's own error names what failed; a failed assertion in a pass (printed without aborting
    by these wheels; often only "Module verification failed") comes next, then MLIR's generic
    "Failures have been detected while processing an MLIR pass pipeline".
    """
    asserts = [f"{m.group(1)}: {m.group(2)}" for m in _ASSERTION.finditer(text)]
    errors = [m.group(1) for m in _MLIR_ERROR.finditer(text)]
    passes = [f"error: pass {m.group(1)} failed" for m in _FAILED_PASS.finditer(text)]
    return ([e for e in errors if not e.startswith(_GENERIC)] + asserts + passes
            + [e for e in errors if e.startswith(_GENERIC)])


@contextlib.contextmanager
def mlir_diagnostics(out: list[str], enabled: bool) -> Iterator[None]:
    """Collect the MLIR `error:` lines a failed compile prints on fd 2.

    Why: the exception of a failed pass pipeline only says "PassManager::run failed"; the
    diagnostic that names the op (or the pass) is printed by C++ before the IR dump, often beyond
    the stderr tail that comes back with a result. In a worker fd 2 is its log file: what the
    compile appended is read back from there, so a compile that kills the process loses nothing.
    Elsewhere (`enabled` only) fd 2 goes to a temporary file for the compile and is copied on.
    """
    start = _file_end(2)
    if start is not None:
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            with contextlib.suppress(OSError), open("/proc/self/fd/2", "rb") as log:  # fd 2 is write-only
                log.seek(start)
                out.extend(diagnostics(log.read(1 << 20).decode(errors="replace")))
            raise
        return
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            data = tmp.read()
            with contextlib.suppress(OSError):
                os.write(2, data)
            out.extend(diagnostics(data.decode(errors="replace")))


def _file_end(fd: int) -> int | None:
    """The size of `fd` when it is a regular file (a worker's stderr log), else None."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def gpu_target(GPUTarget: Any, options: dict) -> Any:
    """The GPUTarget a real launch on the options' device would compile for."""
    if options["family"] == "cuda":
        return GPUTarget("cuda", options["capability"], options["warp_size"])
    if options["family"] == "xpu":
        return GPUTarget("xpu", dict(options["device"]), options["warp_size"])
    return GPUTarget("hip", options["arch"], options["warp_size"])


# The stage record of the compile in progress ("now": the stage dict of compile_only) and the
# text of each finished stage ("texts"), written by the stage wrappers of instrument_stages.
_STAGE_SINK: dict[str, dict[str, str]] = {"now": {}, "texts": {}}


def instrument_stages(backend_cls: Any) -> None:
    """Make every stage the backend adds (ttir, ttgir, llir, spv, ...) report itself by name.

    Why: the stage of a failure is part of its signature, and "compile" alone cannot tell a
    TTGIR pass from SPIR-V translation. The stage functions themselves run unchanged.
    """
    orig = backend_cls.add_stages
    if getattr(orig, "_tritondiff", False):
        return

    def add_stages(self: Any, stages: dict, *args: Any, **kwargs: Any) -> Any:
        out = orig(self, stages, *args, **kwargs)
        for name, fn in list(stages.items()):
            stages[name] = _reporting_stage(name, fn)
        return out

    add_stages._tritondiff = True  # type: ignore[attr-defined]
    backend_cls.add_stages = add_stages


def _reporting_stage(name: str, fn: Any) -> Any:
    def stage(src: Any, metadata: Any) -> Any:
        _STAGE_SINK["now"]["now"] = name
        report_stage(name)
        out = fn(src, metadata)
        if not isinstance(out, bytes):
            with contextlib.suppress(Exception):  # a module that fails to print is only a missing dump
                _STAGE_SINK["texts"][name] = str(out)
        return out

    return stage


def _compile_stage(e: BaseException, reached: str) -> str:
    if type(e).__name__ == "CompilationError":
        return "frontend"
    return reached


def _staged_source_class(ASTSource: Any) -> Any:
    """ASTSource whose make_ir reports the frontend stage, so a crash in it is attributed."""

    class StagedSource(ASTSource):
        _stage: dict[str, str] = {}

        def make_ir(self, *args: Any, **kwargs: Any) -> Any:
            self._stage["now"] = "frontend"
            report_stage("frontend")
            mod = super().make_ir(*args, **kwargs)
            self._stage["now"] = "compile"
            report_stage("compile")
            return mod

    return StagedSource


class _AlignedPointer:
    """Stands in for a tensor in releases that read alignment from `data_ptr()` (3.0–3.2).

    Our pointers are 16-byte aligned: data starts GUARD_ELEMS elements into a fresh allocation.
    """

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype

    def data_ptr(self) -> int:
        return 1 << 20


def _compile_source(fn: Any, case: dict, target: Any, stage: dict[str, str], specialize: bool) -> Any:
    """Build the ASTSource for this release, mirroring what a real launch would specialise.

    * 3.0, 3.1: `ASTSource(fn, signature, constants, attrs)`: signature {name: type} of
      non-constexpr params, constants {name: value}, attrs an `AttrsDescriptor` from
      `fn._get_config(*values)` (divisible_by_16 / equal_to_1 param indices).
    * 3.2: same signature/constants, attrs from `backend.get_attrs_descriptor(fn.params, values)`;
      params equal to 1 also become constants.
    * 3.3+: `ASTSource(fn, signature, constexprs, attrs)`: signature {name: type} of *all*
      params with "constexpr" for constexprs, constexprs {name: value}, attrs
      {(index,): [["tt.divisibility", 16]]}; int params equal to 1 are specialised to constexpr.
    """
    from triton.compiler import ASTSource

    cls = _staged_source_class(ASTSource)
    cls._stage = stage
    params = list(ASTSource.__init__.__code__.co_varnames)
    values: list[Any] = []
    types: list[str] = []
    for a in case["args"]:
        if a["kind"] == "ptr":
            dt = case["buffers"][a["buffer"]]["dtype"]
            types.append("*" + TRITON_TYPE[dt])
            values.append(_AlignedPointer(dt))
        elif a["kind"] == "scalar":
            types.append(TRITON_TYPE[a["dtype"]])
            values.append(scalar_value(a))
        else:
            types.append("constexpr")
            values.append(a["value"])
    names = [a["name"] for a in case["args"]]

    def int_one(v: Any) -> bool:
        return specialize and isinstance(v, int) and not isinstance(v, bool) and v == 1

    def div16(v: Any) -> bool:
        if isinstance(v, _AlignedPointer):
            return True
        return isinstance(v, int) and not isinstance(v, bool) and v % 16 == 0

    if "constexprs" in params:  # 3.3 and later
        sig: dict[str, str] = {}
        constexprs: dict[str, Any] = {}
        attrs: dict[tuple[int, ...], list[list[Any]]] = {}
        for i, (n, t, v) in enumerate(zip(names, types, values)):
            if t == "constexpr" or (t.startswith("i") and int_one(v)):
                sig[n] = "constexpr"
                constexprs[n] = v
            else:
                sig[n] = t
                if specialize and div16(v) and t != "i1":
                    attrs[(i,)] = [["tt.divisibility", 16]]
        return cls(fn, sig, constexprs, attrs)

    # 3.0 – 3.2
    sig = {n: t for n, t in zip(names, types) if t != "constexpr"}
    constants = {n: v for n, t, v in zip(names, types, values) if t == "constexpr"}
    if not specialize:
        return cls(fn, sig, constants)
    if hasattr(fn, "_get_config"):  # 3.0, 3.1
        attrs_desc = fn._get_config(*values)
        one_idx = set(attrs_desc.equal_to_1)
    else:  # 3.2
        from triton.compiler.compiler import make_backend

        attrs_desc = make_backend(target).get_attrs_descriptor(fn.params, values)
        one_idx = set(attrs_desc.get_constants())
    for i in one_idx:
        constants[names[i]] = values[i]
    return cls(fn, sig, constants, attrs_desc)
