"""Compare a backend's buffers with the reference: guards, masked-off lanes, values.

Rules: integers and exactly-computed floats must match bit for bit (-0.0 equals 0.0); floats whose
reference carries an error bound must lie within it; NaN is never expected (the generator keeps
values finite), so a NaN or Inf where the reference is finite is a divergence; elements no store
wrote must keep their initial value; input buffers must come back unchanged; and the canary bytes
around every buffer must be intact, which catches a write past a mask even when every in-bounds
value is right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generators.case import CANARY_BYTE, GUARD_ELEMS, KernelCase
from generators.numerics import from_storage
from oracles.reference import Reference

MAX_ROWS = 8


@dataclass
class Divergence:
    """What differs in one buffer; `kind` is oob-write or miscompile."""

    buffer: str
    kind: str
    pattern: str  # guard-before / guard-after / wrong-values / masked-lanes-written / input-modified
    count: int
    total: int
    rows: list[tuple[int, Any, Any]] = field(default_factory=list)  # (index, expected, got)

    def to_json(self) -> dict[str, Any]:
        return {"buffer": self.buffer, "kind": self.kind, "pattern": self.pattern, "count": self.count,
                "total": self.total, "rows": [[int(i), _py(e), _py(g)] for i, e, g in self.rows]}


def _py(x: Any) -> Any:
    if isinstance(x, (np.floating, float)):
        return float(x)
    if isinstance(x, (np.integer, int, np.bool_, bool)):
        return int(x)
    return x


def check_guards(name: str, padded: np.ndarray, size: int) -> list[Divergence]:
    raw = np.ascontiguousarray(padded).view(np.uint8)
    item = padded.dtype.itemsize
    out = []
    for where, seg, base in (("guard-before", raw[:GUARD_ELEMS * item], -GUARD_ELEMS),
                             ("guard-after", raw[(GUARD_ELEMS + size) * item:], size)):
        bad = np.nonzero(seg != CANARY_BYTE)[0]
        if bad.size:
            elems = np.unique(bad // item)
            rows = [(int(base + e), "canary", "overwritten") for e in elems[:MAX_ROWS]]
            out.append(Divergence(name, "oob-write", where, int(elems.size), GUARD_ELEMS, rows))
    return out


def compare_buffers(case: KernelCase, ref: Reference, outputs: dict[str, np.ndarray]) -> list[Divergence]:
    """All divergences of a backend's padded output buffers from the reference."""
    divs: list[Divergence] = []
    for name, buf in case.buffers.items():
        if name not in outputs:
            divs.append(Divergence(name, "miscompile", "missing-buffer", buf.size, buf.size))
            continue
        padded = outputs[name]
        divs.extend(check_guards(name, padded, buf.size))
        data = padded[GUARD_ELEMS:GUARD_ELEMS + buf.size]
        if buf.role == "in":
            changed = np.nonzero(data.view(np.uint8) != np.ascontiguousarray(buf.data).view(np.uint8))[0]
            if changed.size:
                idx = np.unique(changed // data.dtype.itemsize)
                rows = [(int(i), _py(buf.data[i]), _py(data[i])) for i in idx[:MAX_ROWS]]
                divs.append(Divergence(name, "miscompile", "input-modified", int(idx.size), buf.size, rows))
            continue
        got = from_storage(buf.dtype, data)
        exp = ref.values[name]
        if got.dtype.kind == "f":
            tol = ref.errs[name]
            with np.errstate(invalid="ignore"):
                bad = ~(np.abs(got - exp) <= tol)  # NaN in got compares False -> bad
        else:
            bad = got != exp
        idx = np.nonzero(bad)[0]
        if idx.size:
            written = ref.written[name]
            pattern = "masked-lanes-written" if not np.any(written[idx]) else "wrong-values"
            rows = [(int(i), _py(exp[i]), _py(got[i])) for i in idx[:MAX_ROWS]]
            divs.append(Divergence(name, "miscompile", pattern, int(idx.size), buf.size, rows))
    return divs
