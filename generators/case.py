"""KernelCase: the unit that flows from generators to backends and oracles.

A case is a kernel spec (typed AST, see `generators.spec`) plus everything needed to launch it:
rendered Triton source, arguments in signature order, grid, and the initial contents of every
buffer. It serialises to plain JSON (corpus files) and to a builtin-only dict (the worker wire
format), so a backend environment with another numpy, or no tritondiff at all, can read it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backends.runner_api import CANARY_BYTE, GUARD_ELEMS, STORAGE

__all__ = ["CANARY_BYTE", "GUARD_ELEMS", "Arg", "Buffer", "KernelCase"]

SCHEMA_VERSION = 1

# Element dtypes and the numpy dtype that stores each (bf16 as its uint16 bit pattern).
NUMPY_STORAGE = STORAGE

# Triton signature spelling of each dtype (`*fp32` for pointers, `i32` for scalars).
TRITON_SIG = {
    "fp32": "fp32",
    "fp16": "fp16",
    "bf16": "bf16",
    "fp64": "fp64",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "int1": "i1",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "fp8e4nv": "fp8e4nv",
    "fp8e5": "fp8e5",
}

@dataclass
class Arg:
    """One kernel parameter, in signature order."""

    name: str
    kind: str  # "ptr" | "scalar" | "constexpr"
    dtype: str  # element dtype for ptr, value dtype for scalar; "" for constexpr
    value: int | float | None = None  # scalar and constexpr values
    buffer: str | None = None  # for ptr: the buffer it points at

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype,
                "value": self.value, "buffer": self.buffer}

    @staticmethod
    def from_json(d: dict[str, Any]) -> Arg:
        return Arg(d["name"], d["kind"], d["dtype"], d.get("value"), d.get("buffer"))


@dataclass
class Buffer:
    """A flat device buffer; `data` holds its initial contents (outputs: a sentinel fill)."""

    name: str
    dtype: str
    role: str  # "in" | "out"
    data: np.ndarray

    @property
    def size(self) -> int:
        return int(self.data.size)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "role": self.role,
                "data": base64.b64encode(np.ascontiguousarray(self.data).tobytes()).decode()}

    @staticmethod
    def from_json(d: dict[str, Any]) -> Buffer:
        raw = base64.b64decode(d["data"])
        return Buffer(d["name"], d["dtype"], d["role"],
                      np.frombuffer(raw, dtype=NUMPY_STORAGE[d["dtype"]]).copy())


@dataclass
class KernelCase:
    """A generated kernel with its launch plan and inputs; deterministic from (seed, version)."""

    spec: dict[str, Any]
    source: str
    kernel_name: str
    args: list[Arg]
    buffers: dict[str, Buffer]
    grid: tuple[int, int, int]
    num_warps: int = 4
    features: list[str] = field(default_factory=list)
    seed: int | None = None
    generator_version: str = ""
    # Launch and compile options beyond num_warps, read by the runners: "num_stages" (cuda, hip),
    # "maxnreg" (cuda), "ascend_options" (NPUOptions fields for triton-ascend). Empty for a
    # generated case; metamorphic variants set them (oracles.metamorphic).
    launch: dict[str, Any] = field(default_factory=dict)
    # "captured": a user's own kernel recorded by `tritondiff capture` (fuzz.capture): `source` is
    # the user's code, `spec` is empty, and `capture` holds what the interpreter left in each
    # buffer it wrote ("outputs": {buffer: base64}), the launching file:line and tensor shapes.
    kind: str = "generated"
    capture: dict[str, Any] = field(default_factory=dict)

    @property
    def captured(self) -> bool:
        return self.kind == "captured"

    def captured_outputs(self) -> dict[str, np.ndarray]:
        """What the capturing interpreter left in each written buffer, as storage arrays."""
        out = {}
        for name, blob in (self.capture.get("outputs") or {}).items():
            dt = NUMPY_STORAGE[self.buffers[name].dtype]
            out[name] = np.frombuffer(base64.b64decode(blob), dtype=dt).copy()
        return out

    @property
    def case_id(self) -> str:
        """Content hash of what a backend sees: source, launch plan and inputs."""
        h = hashlib.sha256()
        h.update(self.source.encode())
        h.update(json.dumps([a.to_json() for a in self.args], sort_keys=True).encode())
        h.update(json.dumps(list(self.grid)).encode())
        h.update(str(self.num_warps).encode())
        if self.launch:  # absent from older cases: their ids stay as they were
            h.update(json.dumps(self.launch, sort_keys=True).encode())
        if self.captured:  # what the case is judged against is part of what it is
            h.update(json.dumps(self.capture.get("outputs") or {}, sort_keys=True).encode())
        for name in sorted(self.buffers):
            b = self.buffers[name]
            h.update(name.encode() + b.dtype.encode() + b.role.encode())
            h.update(np.ascontiguousarray(b.data).tobytes())
        return h.hexdigest()[:16]

    def outputs(self) -> list[str]:
        return [n for n, b in self.buffers.items() if b.role == "out"]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "case_id": self.case_id,
            "spec": self.spec,
            "source": self.source,
            "kernel_name": self.kernel_name,
            "args": [a.to_json() for a in self.args],
            "buffers": {n: b.to_json() for n, b in self.buffers.items()},
            "grid": list(self.grid),
            "num_warps": self.num_warps,
            "features": list(self.features),
            "seed": self.seed,
            "generator_version": self.generator_version,
            **({"launch": dict(self.launch)} if self.launch else {}),
            **({"kind": self.kind, "capture": dict(self.capture)} if self.captured else {}),
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> KernelCase:
        if d.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported case schema {d.get('schema')!r} (expected {SCHEMA_VERSION})")
        g = d["grid"]
        return KernelCase(
            spec=d["spec"], source=d["source"], kernel_name=d["kernel_name"],
            args=[Arg.from_json(a) for a in d["args"]],
            buffers={n: Buffer.from_json(b) for n, b in d["buffers"].items()},
            grid=(int(g[0]), int(g[1]), int(g[2])), num_warps=int(d.get("num_warps", 4)),
            features=list(d.get("features", [])), seed=d.get("seed"),
            generator_version=d.get("generator_version", ""), launch=_launch(d.get("launch")),
            kind=d.get("kind", "generated"), capture=dict(d.get("capture") or {}),
        )

    def to_wire(self) -> dict[str, Any]:
        """Builtin-only form for worker pipes: bytes for buffers, no numpy objects."""
        return {
            "case_id": self.case_id,
            "source": self.source,
            "kernel_name": self.kernel_name,
            "args": [a.to_json() for a in self.args],
            "buffers": {n: {"dtype": b.dtype, "role": b.role, "size": b.size,
                            "data": np.ascontiguousarray(b.data).tobytes()}
                        for n, b in self.buffers.items()},
            "grid": list(self.grid),
            "num_warps": self.num_warps,
            "launch": dict(self.launch),
        }


LAUNCH_KEYS = {"num_stages": int, "maxnreg": int, "ascend_options": dict}


def _launch(d: Any) -> dict[str, Any]:
    """Launch options of a case file: known keys of the right type only (a case file is data)."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ValueError(f"case 'launch' must be an object, not {type(d).__name__}")
    out: dict[str, Any] = {}
    for k, v in d.items():
        want = LAUNCH_KEYS.get(k)
        if want is None:
            raise ValueError(f"unknown launch option {k!r} (known: {', '.join(LAUNCH_KEYS)})")
        if not isinstance(v, want) or isinstance(v, bool):
            raise ValueError(f"launch option {k!r} must be {want.__name__}, got {v!r}")
        if want is dict and not all(isinstance(x, (bool, int, str)) for x in v.values()):
            raise ValueError(f"launch option {k!r} takes only bool/int/str values")
        out[k] = dict(v) if want is dict else v
    return out
