"""The tools pipeline: lower linalg to a shared library with mlir-opt, mlir-translate, llc and cc.

Why it is kept: it is the reference the in-process engine (`engine.cpp`) is checked against
(`lowering="tools"`, and `bench/ascend_stages.py` runs both on every case), and the fallback where
libMLIR's headers cannot be installed. This is *our* pipeline, not the backend under test: any
failure here is raised as `Unsupported`, kept apart from the backend's own bugs.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from backends.linalg_exec.toolchain import Toolchain, ToolchainMissing, ensure_toolchain
from backends.runner_api import Unsupported

# Order matters; see docs/ascend.md. The engine runs the same list (pipeline_text()).
# finalize-memref-to-llvm uses the generic alloc functions so
# that our runtime poisons and guards the kernel's own allocations.
MLIR_PASSES = [
    "--inline",
    "--symbol-dce",
    "--convert-elementwise-to-linalg",
    "--eliminate-empty-tensors",
    "--empty-tensor-to-alloc-tensor",
    "--one-shot-bufferize=allow-return-allocs-from-loops=true",
    "--convert-linalg-to-affine-loops",
    "--lower-affine",
    "--convert-linalg-to-loops",
    "--convert-scf-to-cf",
    "--convert-arith-to-llvm",
    "--convert-math-to-llvm",
    "--convert-math-to-libm",
    "--convert-index-to-llvm",
    "--memref-expand",
    "--expand-strided-metadata",
    "--finalize-memref-to-llvm=use-generic-functions=true",
    # after memrefs are descriptors: an scf.if / scf.while that yields buffers becomes branches
    # whose block arguments are memrefs, which cf-to-llvm cannot type before finalize-memref
    "--convert-cf-to-llvm",
    "--convert-func-to-llvm",
    "--lower-affine",
    "--convert-arith-to-llvm",
    "--reconcile-unrealized-casts",
]

RUNTIME_C = Path(__file__).with_name("runtime.c")
PIPELINE_VERSION = "1"  # bump when MLIR_PASSES changes: part of every lowering cache key


def pipeline_text(passes: list[str] = MLIR_PASSES) -> str:
    """The mlir-opt flags as a textual pass pipeline (`--a=x=1` -> `a{x=1}`), for the engine."""
    out = []
    for p in passes:
        name, _, opts = p.lstrip("-").partition("=")
        out.append(f"{name}{{{opts}}}" if opts else name)
    return ",".join(out)
CACHE_ROOT = Path(os.environ.get("TRITONDIFF_CACHE", Path.home() / ".cache" / "tritondiff")) / "ascend"


@dataclass
class Lowered:
    so_path: str
    llvm_mlir: str
    lower_s: float
    cached: bool


_so_cache: dict[str, Lowered] = {}
_workdir: str | None = None
_runtime_obj: str | None = None


def _tmp() -> str:
    global _workdir
    if _workdir is None or not os.path.isdir(_workdir):
        _workdir = tempfile.mkdtemp(prefix="tritondiff-ascend-")
        atexit.register(cleanup_dir, _workdir, os.getpid())
    return _workdir


def cleanup_dir(path: str, owner: int) -> None:
    """Remove the per-worker scratch dir (only in the process that made it, not in forked children)."""
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


def _run(stage: str, cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Unsupported(f"our lowering ({stage}) timed out after {timeout:.0f}s") from e
    if r.returncode != 0:
        how = f"signal {-r.returncode}" if r.returncode < 0 else f"exit {r.returncode}"
        raise Unsupported(f"our lowering failed at {stage} ({how}): {r.stderr.strip()[:4000]}")
    return r


def runtime_object(tc: Toolchain) -> str:
    """Compile runtime.c once per content+compiler; shared by workers through the cache dir."""
    global _runtime_obj
    if _runtime_obj and os.path.exists(_runtime_obj):
        return _runtime_obj
    src = RUNTIME_C.read_bytes()
    key = hashlib.sha256(src + tc.cc.encode()).hexdigest()[:16]
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    obj = CACHE_ROOT / f"runtime-{key}.o"
    if not obj.exists():
        tmp = CACHE_ROOT / f"runtime-{key}.{os.getpid()}.o"
        _run("cc runtime", [tc.cc, "-O2", "-fPIC", "-c", str(RUNTIME_C), "-o", str(tmp)], 120)
        os.replace(tmp, obj)
    _runtime_obj = str(obj)
    return _runtime_obj


def lower_to_so(legal_mlir: str, opt_level: int = 0, timeout: float = 120.0) -> Lowered:
    """mlir-opt → mlir-translate → llc → cc -shared; cached by content within this process."""
    try:
        tc = ensure_toolchain()
    except ToolchainMissing as e:  # a set-up problem, never a finding
        raise Unsupported(str(e)) from None
    key = hashlib.sha256(f"{opt_level}|{tc.key()}|".encode() + legal_mlir.encode()).hexdigest()[:24]
    hit = _so_cache.get(key)
    if hit is not None and os.path.exists(hit.so_path):
        return Lowered(hit.so_path, hit.llvm_mlir, 0.0, True)
    t0 = time.perf_counter()
    d = Path(_tmp())
    src, llmlir, ll, obj, so = (d / f"{key}{ext}" for ext in (".mlir", ".llvm.mlir", ".ll", ".o", ".so"))
    src.write_text(legal_mlir)
    _run("mlir-opt", [tc.mlir_opt, str(src), *MLIR_PASSES, "-o", str(llmlir)], timeout)
    _run("mlir-translate", [tc.mlir_translate, "--mlir-to-llvmir", str(llmlir), "-o", str(ll)], timeout)
    _run("llc", [tc.llc, f"-O{opt_level}", "-relocation-model=pic", "-filetype=obj", str(ll),
                 "-o", str(obj)], timeout)
    rt = runtime_object(tc)
    _run("link", [tc.cc, "-shared", "-o", str(so), str(obj), rt, "-Wl,-z,defs", "-lm"], timeout)
    text = llmlir.read_text()
    for p in (src, ll, obj):
        p.unlink(missing_ok=True)
    res = Lowered(str(so), text, time.perf_counter() - t0, False)
    _so_cache[key] = res
    return res
