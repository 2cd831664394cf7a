"""Backend names → BackendConfig: which runner, in which environment, with which options.

Grammar: `family[@version][:arch]`, e.g. `interpreter`, `cuda@3.1.0`, `cuda:sm_89`,
`cuda@3.4.0:sm_80`, `hip:gfx90a`, `ascend@3.2.0rc4`, `xpu@3.3.0b1:pvc`, `smt` (external env only),
`fault-hang`.
A missing version means the family's default; every name is canonicalised (`cuda` → `cuda@3.9.0:sm_90`) so that results
stored under either spelling are the same backend. This module runs in the orchestrator and
never imports triton.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from backends.envs import EnvSpec, env_dir, envs_home, is_installed, python_path
from backends.xpu_devices import XPU_DEVICES

__all__ = ["ALL_DTYPES", "BackendConfig", "BackendInfo", "Capabilities", "FAMILIES", "FAULT_KINDS",
           "UnknownBackend", "list_backends", "resolve"]

DEFAULT_TRITON = "3.9.0"
# Releases known to install from PyPI for cp311 (others are accepted and left to pip).
KNOWN_TRITON = ("3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.3.1", "3.4.0", "3.5.0", "3.5.1", "3.6.0",
                "3.7.0", "3.7.1", "3.8.0", "3.9.0")
ASCEND_VERSIONS = ("3.2.0", "3.2.0rc4", "3.2.0rc2")
CUDA_ARCHS = ("sm_90", "sm_80", "sm_89")
HIP_ARCHS = ("gfx942", "gfx90a")
ASCEND_ARCHS = ("Ascend910B3",)
# Intel GPUs through the triton-xpu wheel (compile only here); archs are backends.xpu_devices' keys.
XPU_VERSIONS = ("3.3.0b1",)
XPU_ARCHS = tuple(XPU_DEVICES)
# The SYCL runtime whose headers the backend's host helpers are built against (>= 2025.0 required).
XPU_SYCL_REQ = "intel-sycl-rt==2025.1.0"
# Pinned so every managed triton env gets the same torch; overridable for machines whose index
# only has another build (e.g. `torch==2.13.0+cpu` from an extra index).
TORCH_REQ = os.environ.get("TRITONDIFF_TORCH_REQ", "torch==2.13.0")

FAULT_KINDS = ("drop-scalar-mul", "mask2d", "segfault", "hang", "slow", "oob-store", "runtime-scale", "warps8")
# Triton forks whose device is the CPU (backends/cpufork/): only in an env the user points at.
CPU_FORKS = {
    "smt": "spine-triton (SpacemiT's SMT backend; from SpacemiT's own package index)",
    "triton-shared": "triton-shared (Triton with the triton-shared CPU reference backend)",
    "triton-cpu": "triton-cpu (Triton's CPU backend fork)",
}
ALL_DTYPES = ("fp32", "fp16", "bf16", "fp64", "int8", "int16", "int32", "int64", "int1")

_VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


class UnknownBackend(ValueError):
    """A backend name that does not parse or names no known family."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do with a case: oracles skip what it cannot."""

    compile: bool = True
    execute: bool = False  # produces outputs on this machine without a GPU
    execute_on_gpu: bool = False  # executes instead when the env sees a GPU
    dtypes: tuple[str, ...] = ALL_DTYPES


@dataclass(frozen=True)
class BackendConfig:
    """Everything needed to start a worker for one backend and tell it how to run cases."""

    name: str  # canonical: family@version[:arch]
    family: str  # interpreter | cuda | hip | ascend | cpufork | fault
    version: str
    options: dict[str, Any] = field(default_factory=dict, hash=False)  # passed to the runner
    env: EnvSpec = field(default_factory=lambda: EnvSpec("none"))
    runner: str = "backends.triton_runner"
    capabilities: Capabilities = field(default_factory=Capabilities)

    @property
    def python(self) -> str:
        return str(python_path(self.env))


@dataclass(frozen=True)
class BackendInfo:
    """One row of `tritondiff backends`."""

    name: str
    family: str
    version: str
    env: str  # env directory, or the external python
    installed: bool


def _release(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _triton_env(version: str) -> EnvSpec:
    # Triton 3.0 and 3.1's interpreter silently loads zeros and drops stores under numpy 2.
    numpy_req = "numpy<2" if _release(version) < (3, 2) else "numpy"
    return EnvSpec(f"triton-{version}", (f"triton=={version}", numpy_req, TORCH_REQ), shared=(torch_env(),))


def torch_env() -> EnvSpec:
    """One torch for every managed triton release (about 0.9 GB saved per release)."""
    pin = TORCH_REQ.split("==", 1)[-1].replace("+", "-") or "any"
    return EnvSpec(f"shared-torch-{pin}", (TORCH_REQ,))


def _ascend_env(version: str) -> EnvSpec:
    return EnvSpec(f"ascend-{version}", (f"triton-ascend=={version}", "pybind11", "numpy"))


def _xpu_env(version: str) -> EnvSpec:
    """triton-xpu installs a package named `triton` too: its own venv, sharing the one torch."""
    return EnvSpec(f"xpu-{version}", (f"triton-xpu=={version}", XPU_SYCL_REQ, "numpy", TORCH_REQ),
                   shared=(torch_env(),))


def _family_defaults() -> dict[str, dict[str, Any]]:
    return {
        "interpreter": {"version": DEFAULT_TRITON, "archs": (), "runner": "backends.triton_runner"},
        "cuda": {"version": DEFAULT_TRITON, "archs": CUDA_ARCHS, "runner": "backends.triton_runner"},
        "hip": {"version": DEFAULT_TRITON, "archs": HIP_ARCHS, "runner": "backends.triton_runner"},
        "ascend": {"version": ASCEND_VERSIONS[0], "archs": ASCEND_ARCHS,
                   "runner": "backends.ascend.runner"},
        "xpu": {"version": XPU_VERSIONS[0], "archs": XPU_ARCHS, "runner": "backends.triton_runner"},
    }


FAMILIES = ("interpreter", "cuda", "hip", "ascend", "xpu", *CPU_FORKS, *(f"fault-{k}" for k in FAULT_KINDS))


def external_env_hint(flavor: str) -> str:
    """What to install and which flag to pass for a CPU-fork backend (docs/smt.md has the rest)."""
    return (f"backend {flavor!r} runs only in an environment you point tritondiff at: a Python where "
            f"{CPU_FORKS[flavor]} is installed, with numpy and torch; pass it as "
            f"`--env-python {flavor}=/path/to/python` (see docs/smt.md)")


def _external_python(name: str, canonical: str, family: str) -> str | None:
    """$TRITONDIFF_ENV_PYTHON (`smt=/opt/smt/bin/python,cuda=/usr/bin/python3`): the Python for a
    backend named as typed, by its canonical name, or by its family."""
    for item in os.environ.get("TRITONDIFF_ENV_PYTHON", "").split(","):
        key, _, py = item.partition("=")
        if py.strip() and key.strip() in (name.strip(), canonical, family):
            return py.strip()
    return None


def resolve(name: str, env_python: str | None = None) -> BackendConfig:
    """Parse a backend name into its config; `env_python` (or $TRITONDIFF_ENV_PYTHON) makes the
    env external."""
    m = re.fullmatch(r"\s*([A-Za-z0-9_\-]+)(?:@([^:\s]+))?(?::([A-Za-z0-9_]+))?\s*", name)
    if not m:
        raise UnknownBackend(f"cannot parse backend name {name!r}: expected family[@version][:arch], "
                             f"families: {', '.join(FAMILIES)}")
    family, version, arch = m.group(1), m.group(2), m.group(3)
    if family.startswith("fault-"):
        cfg = _fault_config(family, version, arch)
    elif family in CPU_FORKS:
        cfg = _cpufork_config(family, version, arch)
    else:
        cfg = _plain_config(family, version, arch)
    env_python = env_python or _external_python(name, cfg.name, family)
    if env_python:
        cfg = BackendConfig(cfg.name, cfg.family, cfg.version, cfg.options,
                            EnvSpec(f"external:{env_python}", external_python=env_python),
                            cfg.runner, cfg.capabilities)
    return cfg


def _check_version(family: str, version: str) -> None:
    if not _VERSION_RE.match(version):
        raise UnknownBackend(f"bad version {version!r} for backend {family!r} (e.g. {DEFAULT_TRITON})")


def _plain_config(family: str, version: str | None, arch: str | None) -> BackendConfig:
    defaults = _family_defaults()
    if family not in defaults:
        raise UnknownBackend(f"unknown backend family {family!r}; known: {', '.join(FAMILIES)}")
    d = defaults[family]
    version = version or d["version"]
    _check_version(family, version)
    if family == "interpreter":
        if arch:
            raise UnknownBackend(f"backend 'interpreter' takes no arch (got {arch!r})")
        return BackendConfig(f"interpreter@{version}", "interpreter", version,
                             {"family": "interpreter"}, _triton_env(version), d["runner"],
                             Capabilities(compile=False, execute=True))
    arch = arch or d["archs"][0]
    if family == "cuda":
        am = re.fullmatch(r"sm_?(\d+)(a?)", arch)
        if not am:
            raise UnknownBackend(f"bad cuda arch {arch!r}: expected sm_NN, e.g. {', '.join(CUDA_ARCHS)}")
        arch = f"sm_{am.group(1)}{am.group(2)}"
        opts = {"family": "cuda", "arch": arch, "capability": int(am.group(1)), "warp_size": 32}
        return BackendConfig(f"cuda@{version}:{arch}", "cuda", version, opts, _triton_env(version),
                             d["runner"], Capabilities(compile=True, execute_on_gpu=True))
    if family == "hip":
        if not re.fullmatch(r"gfx[0-9a-f]+", arch):
            raise UnknownBackend(f"bad hip arch {arch!r}: expected gfxNNN, e.g. {', '.join(HIP_ARCHS)}")
        opts = {"family": "hip", "arch": arch, "warp_size": 64}
        return BackendConfig(f"hip@{version}:{arch}", "hip", version, opts, _triton_env(version),
                             d["runner"], Capabilities(compile=True, execute_on_gpu=True))
    if family == "xpu":
        if arch not in XPU_DEVICES:
            raise UnknownBackend(f"bad xpu arch {arch!r}: known {', '.join(XPU_ARCHS)} (the device "
                                 "properties the compiler is given are tritondiff's table of real devices)")
        # Compile only: no Intel GPU is driven from here. The wheel's 3.3 frontend has no fp64-less
        # or int1-less path, so every dtype is offered.
        opts = {"family": "xpu", "arch": arch, "warp_size": 32, "device": dict(XPU_DEVICES[arch])}
        return BackendConfig(f"xpu@{version}:{arch}", "xpu", version, opts, _xpu_env(version), d["runner"],
                             Capabilities(compile=True))
    # ascend: run by backends.ascend.runner (its own package); fp64 is not an NPU dtype.
    opts = {"family": "ascend", "arch": arch, "version": version}
    dtypes = tuple(t for t in ALL_DTYPES if t != "fp64")
    return BackendConfig(f"ascend@{version}:{arch}", "ascend", version, opts, _ascend_env(version),
                         d["runner"], Capabilities(compile=True, execute=True, dtypes=dtypes))


def _cpufork_config(flavor: str, version: str | None, arch: str | None) -> BackendConfig:
    """`smt`, `smt@<release>`: the version is a label checked against the env's own release."""
    if arch:
        raise UnknownBackend(f"backend {flavor!r} takes no arch (got {arch!r}); its env decides the CPU")
    if version:
        _check_version(flavor, version)
    opts = {"family": "cpufork", "flavor": flavor, "version": version or ""}
    name = f"{flavor}@{version}" if version else flavor
    return BackendConfig(name, "cpufork", version or "", opts,
                         EnvSpec(f"{flavor}-external", external_only=external_env_hint(flavor)),
                         "backends.cpufork.runner", Capabilities(compile=True, execute=True))


def _fault_config(family: str, version: str | None, arch: str | None) -> BackendConfig:
    kind = family[len("fault-"):]
    if kind not in FAULT_KINDS:
        raise UnknownBackend(f"unknown fault backend {family!r}; known: "
                             f"{', '.join('fault-' + k for k in FAULT_KINDS)}")
    if arch:
        raise UnknownBackend(f"fault backend {family!r} takes no arch (got {arch!r})")
    version = version or DEFAULT_TRITON
    _check_version(family, version)
    return BackendConfig(f"{family}@{version}", "fault", version,
                         {"family": "interpreter", "fault": kind}, _triton_env(version),
                         "backends.faults", Capabilities(compile=False, execute=True))


def list_backends() -> list[BackendInfo]:
    """Default backends of every family, plus every version that has a managed env here."""
    names = ["interpreter", *(f"cuda:{a}" for a in CUDA_ARCHS), *(f"hip:{a}" for a in HIP_ARCHS),
             *(f"ascend@{v}" for v in ASCEND_VERSIONS), *(f"xpu@{XPU_VERSIONS[0]}:{a}" for a in XPU_ARCHS),
             *CPU_FORKS, *(f"fault-{k}" for k in FAULT_KINDS)]
    extra: list[str] = []
    if envs_home().is_dir():
        for d in sorted(envs_home().iterdir()):
            if d.is_dir() and d.name.startswith("triton-"):
                v = d.name[len("triton-"):]
                if v != DEFAULT_TRITON and _VERSION_RE.match(v):
                    extra += [f"interpreter@{v}", f"cuda@{v}", f"hip@{v}"]
    rows = []
    for n in names + extra:
        cfg = resolve(n)
        env = f"external: --env-python {n}=PYTHON (docs/smt.md)" if cfg.family == "cpufork" else \
            str(env_dir(cfg.env))
        rows.append(BackendInfo(cfg.name, cfg.family, cfg.version, env, is_installed(cfg.env)))
    return rows
