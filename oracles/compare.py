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
    max_err: float | None = None  # largest |expected - got| over the differing elements, when known

    def to_json(self) -> dict[str, Any]:
        d = {"buffer": self.buffer, "kind": self.kind, "pattern": self.pattern, "count": self.count,
             "total": self.total, "rows": [[int(i), _py(e), _py(g)] for i, e, g in self.rows]}
        if self.max_err is not None:
            d["max_err"] = self.max_err
        return d


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


# ---- reference-free checks and run-against-run comparison ----------------------------------

# Tolerances where no reference bounds the error (cross-backend votes without a reference,
# metamorphic forms judged without one): relative to the larger value plus the same share of the
# buffer's largest magnitude, so results near zero after cancellation are not held to a relative
# bound they cannot meet. Exact agreement always passes.
DTYPE_RTOL = {"fp32": 2e-5, "fp16": 4e-3, "bf16": 3e-2, "fp64": 1e-12}


def reference_free(case: KernelCase, outputs: dict[str, np.ndarray]) -> list[Divergence]:
    """What needs no reference: canaries intact, input buffers unchanged, every buffer returned."""
    divs: list[Divergence] = []
    for name, buf in case.buffers.items():
        if name not in outputs:
            divs.append(Divergence(name, "miscompile", "missing-buffer", buf.size, buf.size))
            continue
        padded = outputs[name]
        divs.extend(check_guards(name, padded, buf.size))
        if buf.role == "in":
            data = padded[GUARD_ELEMS:GUARD_ELEMS + buf.size]
            changed = np.nonzero(data.view(np.uint8) != np.ascontiguousarray(buf.data).view(np.uint8))[0]
            if changed.size:
                idx = np.unique(changed // data.dtype.itemsize)
                rows = [(int(i), _py(buf.data[i]), _py(data[i])) for i in idx[:MAX_ROWS]]
                divs.append(Divergence(name, "miscompile", "input-modified", int(idx.size), buf.size, rows))
    return divs


def run_tolerance(case: KernelCase, ref: Reference | None, name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-element bound on |a - b| for two runs of one kernel (or of two equal forms of it).

    With a reference each run lies within its bound of the exact value, so two runs lie within
    twice the bound of each other; without one, the dtype tolerance above.
    """
    dt = case.buffers[name].dtype
    if ref is not None:
        return 2.0 * np.asarray(ref.errs[name], dtype=np.float64)
    rtol = DTYPE_RTOL.get(dt, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        fin = np.concatenate([np.abs(a[np.isfinite(a)]), np.abs(b[np.isfinite(b)]), [0.0]])
        scale = float(fin.max())
        return rtol * (np.maximum(np.abs(a), np.abs(b)) + scale)


def compare_runs(case: KernelCase, ref: Reference | None, first: dict[str, np.ndarray],
                 second: dict[str, np.ndarray]) -> list[Divergence]:
    """Output buffers of `second` that differ from `first` beyond `run_tolerance`.

    Rows read (index, value in first, value in second). Elements the reference says no store
    wrote are compared too: both runs must leave them as they were.
    """
    divs: list[Divergence] = []
    for name in case.outputs():
        buf = case.buffers[name]
        if name not in first or name not in second:
            continue
        a = from_storage(buf.dtype, first[name][GUARD_ELEMS:GUARD_ELEMS + buf.size])
        b = from_storage(buf.dtype, second[name][GUARD_ELEMS:GUARD_ELEMS + buf.size])
        if a.dtype.kind == "f":
            tol = run_tolerance(case, ref, name, a, b)
            with np.errstate(invalid="ignore", over="ignore"):
                same = (a == b) | (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= tol)
            bad = ~same
        else:
            bad = a != b
        idx = np.nonzero(bad)[0]
        if idx.size:
            pattern = "wrong-values"
            if ref is not None and not np.any(ref.written[name][idx]):
                pattern = "masked-lanes-written"
            rows = [(int(i), _py(a[i]), _py(b[i])) for i in idx[:MAX_ROWS]]
            divs.append(Divergence(name, "miscompile", pattern, int(idx.size), buf.size, rows))
    return divs


def compare_captured(case: KernelCase, outputs: dict[str, np.ndarray]) -> list[Divergence]:
    """A captured case's buffers against what the capturing interpreter left in them.

    Canaries, missing buffers and untouched inputs as without a reference; each written buffer
    bit for bit for integers, and for floats within the dtype tolerance (`DTYPE_RTOL`) of the larger
    value plus the largest magnitude among the buffer's values and the case's float inputs. A
    user's kernel has no reference with error bounds, and a result that cancels to (nearly) zero,
    such as a softmax gradient of a summed loss, is rounding noise on the scale of its operands,
    not of itself. Each divergence carries its largest absolute error.
    """
    divs = reference_free(case, outputs)
    with np.errstate(invalid="ignore", over="ignore"):
        mags = [np.abs(from_storage(b.dtype, b.data).astype(np.float64)) for b in case.buffers.values()
                if b.dtype in DTYPE_RTOL]
        in_scale = max((float(m[np.isfinite(m)].max()) for m in mags if np.isfinite(m).any()), default=0.0)
    for name, data in case.captured_outputs().items():
        buf = case.buffers[name]
        if name not in outputs:
            continue  # reported as missing-buffer above
        a = from_storage(buf.dtype, data)
        b = from_storage(buf.dtype, outputs[name][GUARD_ELEMS:GUARD_ELEMS + buf.size])
        if a.dtype.kind == "f":
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            with np.errstate(invalid="ignore", over="ignore"):
                fin = np.concatenate([np.abs(a64[np.isfinite(a64)]), np.abs(b64[np.isfinite(b64)]), [in_scale]])
                tol = DTYPE_RTOL.get(buf.dtype, 0.0) * (np.maximum(np.abs(a64), np.abs(b64)) + float(fin.max()))
                err = np.abs(a64 - b64)
                bad = ~((a64 == b64) | (np.isnan(a64) & np.isnan(b64)) | (err <= tol))
        else:
            bad = a != b
            err = np.abs(a.astype(np.float64) - b.astype(np.float64))
        idx = np.nonzero(bad)[0]
        if idx.size:
            rows = [(int(i), _py(a[i]), _py(b[i])) for i in idx[:MAX_ROWS]]
            e = err[idx]
            max_err = float(np.nanmax(e)) if not np.all(np.isnan(e)) else float("nan")
            divs.append(Divergence(name, "miscompile", "wrong-values", int(idx.size), buf.size, rows, max_err))
    return divs
