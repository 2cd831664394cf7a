"""The C calling convention of `_mlir_ciface_<kernel>`, read from the linalg's kernel signature.

Why read it rather than hard-code it: triton-ascend releases differ in how many leading
`memref<?xi8>` descriptors they add (3.2.0/rc4: sync-block lock + workspace; rc2: workspace only),
triton-shared-derived tools (spine-triton's among them) pass pointers as unranked `memref<*xT>`,
and triton's specialisation drops integer arguments equal to 1. The order is: leading i8 memrefs,
one memref per pointer argument, scalars in signature order, then gridX, gridY, gridZ, pidX,
pidY, pidZ (i32).
"""

from __future__ import annotations

import re

from backends.linalg_exec.convention import Convention, Param
from backends.linalg_exec.legalize import signature_span, split_types
from backends.runner_api import Unsupported

__all__ = ["MLIR_ELEM", "MLIR_SCALAR", "Convention", "Param", "build", "kernel_signature"]

# Triton scalar dtype (case wire name) -> MLIR type the adapter declares for it.
MLIR_SCALAR = {"int1": "i1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
               "fp16": "f16", "bf16": "bf16", "fp32": "f32", "fp64": "f64",
               # Triton's integers are signless in the IR; fp8 are MLIR's OCP float8 types.
               "uint8": "i8", "uint16": "i16", "uint32": "i32", "uint64": "i64",
               "fp8e4nv": "f8E4M3FN", "fp8e5": "f8E5M2"}
MLIR_ELEM = {"int1": "i8", **{k: v for k, v in MLIR_SCALAR.items() if k != "int1"}}


def kernel_signature(text: str, kernel: str) -> list[tuple[str, str]]:
    """[(type, attrs)] of the kernel's arguments from `func.func @kernel(...)`."""
    i, j = signature_span(text, kernel)
    out = []
    for a in split_types(text[i:j]):
        m = re.match(r"%[\w.$-]+\s*:\s*(.+?)(\s*\{.*\})?\s*(loc\(.*\))?$", a)
        if m is None:
            raise Unsupported(f"cannot parse kernel argument {a!r}")
        out.append((m.group(1).strip(), (m.group(2) or "").strip()))
    return out


def _leading_from_attrs(text: str, kernel: str) -> int | None:
    _, end = signature_span(text, kernel)
    m = re.compile(r"\)\s*attributes\s*(\{[^}]*\})").match(text, end)
    head = m.group(1) if m else ""
    idx = [int(v) for v in re.findall(r"(?:SyncBlockLockArgIdx|WorkspaceArgIdx)\s*=\s*(\d+)", head)]
    return max(idx) + 1 if idx else None


def build(text: str, kernel: str, params: list[Param]) -> Convention:
    """Match the wire case's passed parameters to the kernel signature; Unsupported on mismatch."""
    sig = kernel_signature(text, kernel)
    n_lead = len(sig) - len(params) - 6
    by_attr = _leading_from_attrs(text, kernel)
    if n_lead < 0 or (by_attr is not None and by_attr != n_lead):
        raise Unsupported(f"calling convention mismatch: {len(sig)} kernel args, {len(params)} passed "
                          f"params, leading args by attribute {by_attr}")
    types = [t for t, _ in sig]
    for t in types[:n_lead]:
        if t != "memref<?xi8>":
            raise Unsupported(f"unexpected leading argument type {t}")
    unranked = []
    for p, t in zip(params, types[n_lead:n_lead + len(params)]):
        want = f"memref<?x{MLIR_ELEM[p.dtype]}>" if p.kind == "ptr" else MLIR_SCALAR[p.dtype]
        if p.kind == "ptr" and t == f"memref<*x{MLIR_ELEM[p.dtype]}>":  # triton-shared style
            unranked.append(p.name)
            continue
        if t != want:
            raise Unsupported(f"argument {p.name}: kernel declares {t}, case implies {want}")
    for t in types[-6:]:
        if t != "i32":
            raise Unsupported(f"grid/program-id argument of type {t}")
    return Convention(kernel, n_lead, tuple(params), tuple(types), tuple(unranked))
