"""`tritondiff vary DIR --out DIR2`: more launches of each captured kernel than its program made.

A captured launch is rerun with other block-size constexprs (any power-of-two constexpr whose name
says BLOCK, halved and doubled) and other num_warps. What the kernel accepts is decided by the
kernel itself: a form is kept only when the stock interpreter, running it on the captured inputs,
leaves exactly what the capture recorded (its masks cover the new block, its asserts hold, the
grid still reaches every element). num_warps never changes what the interpreter computes, so those
forms test compiled backends only. Kept forms are captured cases of their own, signed like any
capture, with a note naming the launch they vary. Sizes and strides are not varied: a new shape
needs the program's own code to build its tensors and grid.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fuzz.corpus import load_corpus

WARPS = (1, 2, 8)


def candidates(case: Any) -> list[tuple[str, Any]]:
    """(label, varied case) for each form worth trying, block sizes first."""
    from generators.case import KernelCase

    out: list[tuple[str, Any]] = []
    for i, a in enumerate(case.args):
        v = a.value
        if a.kind != "constexpr" or not isinstance(v, int) or isinstance(v, bool) or "BLOCK" not in a.name.upper():
            continue
        if v < 16 or v & (v - 1):
            continue
        for nv in (v * 2, v // 2):
            if nv < 16 or nv > 1 << 14:
                continue
            d = case.to_json()
            d["args"][i]["value"] = nv
            d.pop("case_id", None)
            out.append((f"{a.name} {v}->{nv}", KernelCase.from_json(d)))
    for w in WARPS:
        if w != case.num_warps:
            d = case.to_json()
            d["num_warps"] = w
            d.pop("case_id", None)
            out.append((f"num_warps {case.num_warps}->{w}", KernelCase.from_json(d)))
    return out


def vary(paths: list[str], out: Path, backend: str = "interpreter@3.9.0", per_case: int = 4,
         timeout: float = 60.0, trust_captured: bool = False) -> dict[str, Any]:
    """Try the forms of every captured case under `paths`; write the accepted ones into `out`."""
    from fuzz.capture_trust import sign
    from fuzz.corpus import save_case
    from fuzz.pipeline import Pipeline
    from fuzz.replay import _open

    t0 = time.monotonic()
    entries, errors = load_corpus(paths, trust_captured)
    interp = _open(backend, {})
    kept: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    try:
        interp.warm()
        pipe = Pipeline([backend], timeout, opened={backend: interp})
        name = interp.name
        for e in entries:
            case = e.case
            if not case.captured or not case.capture.get("outputs") or case.capture.get("error"):
                continue
            for label, var in candidates(case)[:per_case]:
                if label.startswith("num_warps"):
                    ok, why = True, "num_warps does not change what the interpreter computes"
                else:
                    run = pipe.run(var)
                    verdict = run.verdicts().get(name, {"kind": "missing"})
                    ok, why = verdict["kind"] == "ok", verdict["kind"]
                row = {"case": case.case_id, "kernel": case.kernel_name, "form": label, "why": why}
                if not ok:
                    refused.append(row)
                    continue
                floats = any(a.kind == "scalar" and a.dtype == "fp32" for a in var.args)
                expected = {} if floats or label.startswith("num_warps") else {name: {"kind": "ok", "signature": ""}}
                path = save_case(out, var, expected, note=f"{label}: a form of captured case {case.case_id} "
                                                          f"({case.kernel_name}) the interpreter agrees with")
                sign(path)
                kept.append({**row, "file": str(path)})
    finally:
        interp.close()
    return {"command": "vary", "kept": kept, "refused": refused, "malformed": errors, "out": str(out),
            "wall_s": time.monotonic() - t0}


def render(rep: dict[str, Any]) -> str:
    lines = [f"MALFORMED  {m}" for m in rep["malformed"]]
    lines += [f"refused  {r['kernel']} {r['form']}: the interpreter gives {r['why']}" for r in rep["refused"]]
    lines.append(f"kept {len(rep['kept'])} form(s), refused {len(rep['refused'])}, into {rep['out']}")
    return "\n".join(lines)
