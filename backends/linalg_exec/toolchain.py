"""Find (and, as root on Debian, install) the MLIR 19 / LLVM 19 tools our lowering needs.

Why: linalg (from triton-ascend's adapter or a CPU fork's TTIR -> linalg tool) is executed on CPU
through upstream MLIR 19 (`mlir-opt`, `mlir-translate`), LLVM 19 (`llc`) and a C compiler that
links the kernel object with our small runtime. Debian bookworm ships them as `mlir-19-tools`,
`llvm-19` and `gcc`; the in-process engine (`engine.cpp`) also needs `libmlir-19-dev` and `g++`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

LLVM_MAJOR = 19
APT_PACKAGES = ("mlir-19-tools", "llvm-19")
ENGINE_PACKAGES = ("libmlir-19-dev", "g++")
LLVM_DIR = f"/usr/lib/llvm-{LLVM_MAJOR}"
_apt_updated = False


class ToolchainMissing(RuntimeError):
    """The lowering tools are absent and could not be installed."""


@dataclass(frozen=True)
class Toolchain:
    mlir_opt: str
    mlir_translate: str
    llc: str
    cc: str

    def key(self) -> str:
        """Identity of the toolchain for cache keys."""
        return "|".join([self.mlir_opt, self.mlir_translate, self.llc, self.cc])


def _is_llvm19(path: str) -> bool:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return f"version {LLVM_MAJOR}." in out


def _find_tool(name: str) -> str | None:
    """Look in $TRITONDIFF_LLVM_BIN, /usr/lib/llvm-19/bin, then PATH (`name-19`, `name`)."""
    dirs = [os.environ.get("TRITONDIFF_LLVM_BIN", ""), f"/usr/lib/llvm-{LLVM_MAJOR}/bin"]
    for d in dirs:
        p = os.path.join(d, name) if d else ""
        if p and os.access(p, os.X_OK):
            return p
    for candidate in (f"{name}-{LLVM_MAJOR}", name):
        p = shutil.which(candidate)
        if p and (candidate.endswith(f"-{LLVM_MAJOR}") or _is_llvm19(p)):
            return p
    return None


def _find_cc() -> str | None:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang", f"clang-{LLVM_MAJOR}"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def find_toolchain() -> Toolchain | None:
    """The toolchain if every tool is present, else None."""
    tools = [_find_tool("mlir-opt"), _find_tool("mlir-translate"), _find_tool("llc"), _find_cc()]
    if any(t is None for t in tools):
        return None
    return Toolchain(*tools)  # type: ignore[arg-type]


def missing_packages() -> list[str]:
    """Debian packages that would supply what is missing."""
    pkgs = []
    if _find_tool("mlir-opt") is None or _find_tool("mlir-translate") is None:
        pkgs.append("mlir-19-tools")
    if _find_tool("llc") is None:
        pkgs.append("llvm-19")
    if _find_cc() is None:
        pkgs.append("gcc")
    return pkgs


def install_instructions(pkgs: list[str] | None = None) -> str:
    pkgs = pkgs or list(APT_PACKAGES) + ["gcc"]
    return ("the linalg executor (Ascend and CPU-fork backends) needs MLIR/LLVM 19 tools (mlir-opt, "
            "mlir-translate, llc) and a C compiler; on Debian/Ubuntu run: "
            f"apt-get install -y {' '.join(pkgs)} "
            "(Debian bookworm main has them; elsewhere use apt.llvm.org), or point "
            "$TRITONDIFF_LLVM_BIN at a directory holding LLVM 19's mlir-opt, mlir-translate and llc")


def _apt_install(pkgs: list[str]) -> subprocess.CompletedProcess:
    global _apt_updated
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=900)
        _apt_updated = True
    return subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *pkgs], env=env,
                          capture_output=True, text=True, timeout=1800)


def _can_apt(install: bool) -> bool:
    return bool(install and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"))


def engine_sdk() -> tuple[str, str] | None:
    """(C++ compiler, LLVM 19 dir) when libMLIR and its headers are installed, else None."""
    cxx = shutil.which(os.environ.get("CXX", "")) or shutil.which("g++") or shutil.which("c++")
    d = os.environ.get("TRITONDIFF_LLVM_DIR", LLVM_DIR)
    if cxx and os.path.exists(os.path.join(d, "lib", "libMLIR.so")) and os.path.exists(
            os.path.join(d, "include", "mlir", "InitAllPasses.h")):
        return cxx, d
    return None


def ensure_engine_sdk(install: bool = True) -> tuple[str, str]:
    """The engine's compiler and libMLIR, installed with apt-get when root; else ToolchainMissing."""
    sdk = engine_sdk()
    if sdk is not None:
        return sdk
    if not _can_apt(install):
        raise ToolchainMissing("the in-process linalg engine needs libMLIR 19 with its headers and a "
                               f"C++ compiler: apt-get install -y {' '.join(ENGINE_PACKAGES)} (or run "
                               "with lowering='tools', the per-kernel mlir-opt/llc pipeline)")
    r = _apt_install(list(ENGINE_PACKAGES))
    sdk = engine_sdk()
    if sdk is None:
        raise ToolchainMissing(f"apt-get install {' '.join(ENGINE_PACKAGES)} failed (rc={r.returncode}): "
                               f"{r.stderr[-2000:]}")
    return sdk


def ensure_toolchain(install: bool = True) -> Toolchain:
    """Return the toolchain, installing it with apt-get when root and allowed; else raise."""
    tc = find_toolchain()
    if tc is not None:
        return tc
    pkgs = missing_packages()
    if not _can_apt(install):
        raise ToolchainMissing(install_instructions(pkgs))
    r = _apt_install(pkgs)
    tc = find_toolchain()
    if tc is None:
        raise ToolchainMissing(f"apt-get install {' '.join(pkgs)} failed (rc={r.returncode}): "
                               f"{r.stderr[-2000:]}\n" + install_instructions(pkgs))
    return tc


if __name__ == "__main__":
    print(ensure_toolchain())
