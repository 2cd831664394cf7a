"""Debian packages tritondiff's backends and reports need, installed when missing (as root).

mlir-19-tools and llvm-19 lower triton-ascend's linalg to CPU code, libmlir-19-dev and g++ build
the in-process engine that does the same work without a process per kernel; chromium renders the HTML
campaign report in its screenshot test; lld-19 links hip kernels for triton releases up to 3.4;
libze-dev (Level Zero's loader, linked by) and g++ (which builds) the xpu backend's host-side
arch parser. Not root: say exactly what to run instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

PACKAGES = {"mlir-19-tools": "/usr/lib/llvm-19/bin/mlir-opt", "llvm-19": "/usr/lib/llvm-19/bin/llc",
            "lld-19": "/usr/lib/llvm-19/bin/ld.lld",
            "libmlir-19-dev": "/usr/lib/llvm-19/include/mlir/InitAllPasses.h", "g++": "/usr/bin/g++",
            "chromium": "/usr/bin/chromium", "libze-dev": "/usr/lib/x86_64-linux-gnu/libze_loader.so"}
# What an xpu backend needs even without --system (checked, never installed, by `setup --backends xpu`).
XPU_PACKAGES = ("libze-dev", "g++")


def missing(only: tuple[str, ...] | None = None) -> list[str]:
    return [pkg for pkg, path in PACKAGES.items() if (only is None or pkg in only) and not os.path.exists(path)]


def check_xpu_packages() -> None:
    """One clear line when the xpu backend's host toolchain is absent (its worker would not start)."""
    need = missing(XPU_PACKAGES)
    if need:
        raise RuntimeError(f"the xpu backends need Debian packages {need}: run `apt-get install -y "
                           f"{' '.join(need)}` as root, or `python3 -m fuzz setup --system`")


def ensure_debian_packages() -> None:
    need = missing()
    if not need:
        return
    cmd = ["apt-get", "install", "-y", "-q", *need]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(f"missing Debian packages {need}: run `apt-get update && {' '.join(cmd)}` as root")
    print(f"installing {' '.join(need)} ...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def build_linalg_engine() -> None:
    """Compile the linalg engine now (minutes, once per machine) rather than in a campaign's worker."""
    from backends.linalg_exec.build import engine_library, runtime_library

    print("building the linalg engine (once per machine) ...", file=sys.stderr)
    runtime_library()
    print(engine_library(), file=sys.stderr)
