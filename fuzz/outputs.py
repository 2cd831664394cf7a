"""Small, JSON-safe summaries of what each backend wrote, kept with a finding for triage.

Full buffers are large and replayable from the case; a finding keeps only the head of each output,
where it first diverges from the reference, and the judge's own details.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

HEAD = 16
MAX_DIFFS = 8


def jsonable(x: Any, depth: int = 0) -> Any:
    """Builtins only, no NaN/Inf literals (strict JSON readers reject them), bounded size."""
    if depth > 6:
        return repr(x)[:200]
    if isinstance(x, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in list(x.items())[:64]}
    if isinstance(x, (list, tuple)):
        return [jsonable(v, depth + 1) for v in list(x)[:64]]
    if isinstance(x, np.ndarray):
        return jsonable(x.ravel()[:HEAD].tolist(), depth + 1)
    if isinstance(x, np.generic):
        return jsonable(x.item(), depth + 1)
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if isinstance(x, (bool, int, str)) or x is None:
        return x if not isinstance(x, str) else x[:2000]
    if isinstance(x, bytes):
        return x[:64].hex()
    return repr(x)[:200]


def unpad(arr: np.ndarray, size: int) -> np.ndarray:
    """The data region of a padded buffer (guard + data + guard), or the array as it is."""
    from backends.runner_api import GUARD_ELEMS

    flat = np.asarray(arr).ravel()
    if flat.size == size + 2 * GUARD_ELEMS:
        return flat[GUARD_ELEMS:GUARD_ELEMS + size]
    return flat


def reference_values(ref: Any) -> dict[str, np.ndarray]:
    """Expected values (float64/int64/bool, unpadded) per buffer, from `oracles.reference.Reference`."""
    if ref is None:
        return {}
    vals = getattr(ref, "values", None)
    return dict(vals) if isinstance(vals, dict) else {}


def as_values(dtype: str, data: np.ndarray) -> np.ndarray:
    """Storage array -> comparable values (bf16 bits decoded)."""
    try:
        from generators.numerics import from_storage

        return from_storage(dtype, data)
    except (ImportError, KeyError, ValueError):
        return np.asarray(data)


def _diffs(got: np.ndarray, want: np.ndarray, err: Any = None, written: Any = None) -> list[int]:
    """Indices where a backend's value is outside the reference's error bound (written elements)."""
    if got.shape != want.shape:
        return []
    g = got.astype(np.float64) if got.dtype.kind in "fb" or want.dtype.kind == "f" else got
    w = want.astype(np.float64) if g.dtype.kind == "f" else want
    with np.errstate(invalid="ignore", over="ignore"):
        if g.dtype.kind == "f":
            bound = np.asarray(err, dtype=np.float64) if err is not None else 0.0
            bad = ~(np.abs(g - w) <= bound) & ~(np.isnan(g) & np.isnan(w)) & ~((g == w) & np.isinf(g))
        else:
            bad = g != w
    if written is not None and np.shape(written) == bad.shape:
        bad &= np.asarray(written, dtype=bool)
    return np.flatnonzero(bad)[:MAX_DIFFS].tolist()


def summarize(case: Any, ref: Any, results: dict[str, Any], outcomes: list[Any]) -> dict[str, Any]:
    """{"reference": {buf: head}, "backends": {name: {buf: {head, diff_at}}}, "details": {...}}."""
    sizes = {n: b.size for n, b in case.buffers.items()}
    dtypes = {n: b.dtype for n, b in case.buffers.items()}
    outs = set(case.outputs())
    want = {n: np.asarray(v).ravel() for n, v in reference_values(ref).items() if n in outs}
    errs = getattr(ref, "errs", None) or {}
    written = getattr(ref, "written", None) or {}
    summary: dict[str, Any] = {"reference": {n: jsonable(v[:HEAD]) for n, v in want.items()},
                               "backends": {}, "details": {}}
    for name, res in results.items():
        bufs: dict[str, Any] = {}
        for buf, arr in (getattr(res, "outputs", None) or {}).items():
            raw = unpad(arr, sizes.get(buf, np.asarray(arr).size))
            if buf not in outs and buf in case.buffers and np.array_equal(raw, case.buffers[buf].data):
                continue  # an input left as it was: nothing to triage
            data = as_values(dtypes.get(buf, ""), raw)
            entry: dict[str, Any] = {"head": jsonable(data[:HEAD])}
            if buf in want:
                e, w = errs.get(buf), written.get(buf)
                entry["diff_at"] = _diffs(data, want[buf], None if e is None else np.ravel(e),
                                          None if w is None else np.ravel(w))
            bufs[buf] = entry
        summary["backends"][name] = {"status": getattr(res, "status", ""), "outputs": bufs}
    for o in outcomes:
        details = getattr(o, "details", None)
        if details:
            summary["details"][f"{o.backend}:{o.kind}"] = jsonable(details)
    return summary


def summarize_variants(run: Any) -> list[dict[str, Any]]:
    """Heads of every metamorphic form's outputs, beside the base form's (for triage)."""
    out = []
    for vr in run.ran_variants():
        entry = summarize(vr.case, vr.ref, vr.results, vr.outcomes)
        entry["variant"] = vr.variant.to_json()
        out.append(entry)
    return out
