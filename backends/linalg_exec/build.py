"""Build (once per machine) the engine library and the runtime as shared objects, cached by content.

Why cached on disk: compiling engine.cpp against all of MLIR's headers takes one to three minutes
on two cores; every worker and every test afterwards only loads the result. A file lock makes
concurrent workers wait for one build instead of racing. `python -m backends.linalg_exec.build`
(also run by `tritondiff setup --system`) builds both ahead of time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from backends.linalg_exec.toolchain import engine_sdk, ensure_engine_sdk, ensure_toolchain

HERE = Path(__file__).resolve().parent
ENGINE_CPP = HERE / "engine.cpp"
RUNTIME_C = HERE / "runtime.c"
CACHE = Path(os.environ.get("TRITONDIFF_CACHE", Path.home() / ".cache" / "tritondiff")) / "linalg-exec"


class BuildError(RuntimeError):
    """The engine or runtime did not compile: a set-up problem, never a finding."""


def _path(name: str, key_parts: list[bytes]) -> Path:
    digest = hashlib.sha256(b"\0".join(key_parts)).hexdigest()[:16]
    return CACHE / f"{name}-{digest}.so"


def _cached_build(name: str, key_parts: list[bytes], cmd_for: Callable[[str], list[str]],
                  timeout: float) -> str:
    out = _path(name, key_parts)
    key = out.stem.split("-", 1)[1]
    if out.exists():
        return str(out)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it right now
        if out.exists():
            return str(out)
        tmp = CACHE / f"{name}-{key}.{os.getpid()}.so"
        try:
            r = subprocess.run(cmd_for(str(tmp)), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BuildError(f"building {name} timed out after {timeout:.0f}s") from e
        if r.returncode != 0:
            tmp.unlink(missing_ok=True)
            msg = f"building {name} failed (exit {r.returncode}): {r.stderr.strip()[-4000:]}"
            out.with_suffix(".failed").write_text(msg)  # background builds do not retry it
            raise BuildError(msg)
        os.replace(tmp, out)
        out.with_suffix(".failed").unlink(missing_ok=True)
    return str(out)


def runtime_library() -> str:
    """runtime.c as a shared object, loaded RTLD_GLOBAL so JIT-linked kernels resolve against it.

    libgcc_s is linked in explicitly: it holds the half-precision conversions (__extendhfsf2, ...)
    that the old pipeline got from libgcc when linking each kernel.
    """
    tc = ensure_toolchain()
    src = RUNTIME_C.read_bytes()
    return _cached_build("runtime", [src, tc.cc.encode(), b"v1"], lambda o: [
        tc.cc, "-O2", "-fPIC", "-shared", str(RUNTIME_C), "-o", o, "-Wl,--no-as-needed", "-lgcc_s",
        "-lm"], 300)


def _engine_key(cxx: str, llvm: str) -> list[bytes]:
    return [ENGINE_CPP.read_bytes(), cxx.encode(), llvm.encode(), b"v1"]


def engine_ready() -> str | None:
    """Path of the built engine library, or None while it is not built (never builds)."""
    sdk = engine_sdk()
    if sdk is None:
        return None
    p = _path("engine", _engine_key(*sdk))
    return str(p) if p.exists() else None


_background: subprocess.Popen | None = None


def start_background_build() -> bool:
    """Build the engine in a detached process (once per process); False when it cannot be built."""
    global _background
    sdk = engine_sdk()
    if sdk is None or _path("engine", _engine_key(*sdk)).with_suffix(".failed").exists():
        return False  # `python -m backends.linalg_exec.build` shows why; that run retries
    if _background is None:
        repo = str(HERE.parents[1])
        env = dict(os.environ, PYTHONPATH=repo)
        _background = subprocess.Popen([sys.executable, "-m", "backends.linalg_exec.build"], cwd=repo,
                                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
    return True


def engine_library() -> str:
    """engine.cpp linked against libMLIR and libLLVM 19 (built on first use, minutes)."""
    cxx, llvm = ensure_engine_sdk()
    lib = f"{llvm}/lib"
    return _cached_build("engine", _engine_key(cxx, llvm), lambda o: [
        cxx, "-O1", "-g0", "-fPIC", "-shared", "-std=c++17", f"-I{llvm}/include", "-fno-exceptions",
        "-funwind-tables", "-D_GNU_SOURCE", "-D__STDC_CONSTANT_MACROS", "-D__STDC_FORMAT_MACROS",
        "-D__STDC_LIMIT_MACROS", str(ENGINE_CPP), "-o", o, f"-L{lib}", "-lMLIR", "-lLLVM",
        f"-Wl,-rpath,{lib}"], 1800)


def main() -> int:
    try:
        print(runtime_library())
        print(engine_library())
    except Exception as e:  # noqa: BLE001 - one clear line for the user
        print(f"tritondiff: linalg engine build failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
