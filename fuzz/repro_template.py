"""Render the standalone `repro.py` of a finding: data block + the body in `fuzz/repro_script.py`.

Why generated this way: the reproducer must run where tritondiff is not installed (a maintainer's
machine with only triton or triton-ascend), so everything it needs — kernel source, launch plan,
input bytes, expected values with per-element tolerances, the backend's target and options — is
embedded as literals, and the code that launches and compares is the linted body module.
"""

from __future__ import annotations

import ast
import base64
import pprint
from pathlib import Path
from typing import Any

import numpy as np

from generators.case import KernelCase

BODY_PATH = Path(__file__).with_name("repro_script.py")
DATA_LINE = "DATA: dict[str, Any] = {}"


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def _source_literal(src: str) -> str:
    """A readable triple-quoted literal where that is exact, else repr()."""
    if '"""' not in src and "\\" not in src and src.endswith("\n"):
        return '"""\\\n' + src + '"""'
    return repr(src)


def expected_block(case: KernelCase, ref: Any) -> dict[str, Any]:
    """Expected values (little-endian float64/int64/bool) and float tolerances per output buffer."""
    out: dict[str, Any] = {}
    if ref is None:
        return out
    for name in case.outputs():
        vals = np.asarray(ref.values[name])
        if vals.dtype.kind == "f":
            vdt, vals = "<f8", vals.astype("<f8")
        elif vals.dtype.kind == "b":
            vdt = "|b1"
        elif vals.dtype.kind == "u":  # unsigned values (uint64 keeps its top bit)
            vdt, vals = "<u8", vals.astype("<u8")
        else:
            vdt, vals = "<i8", vals.astype("<i8")
        tol = None
        if case.buffers[name].dtype in ("fp32", "fp16", "bf16", "fp64", "fp8e4nv", "fp8e5"):
            tol = _b64(np.asarray(ref.errs[name], dtype="<f8"))
        out[name] = {"vdtype": vdt, "values": _b64(vals), "tol": tol}
    return out


def render_repro(case: KernelCase, ref: Any, finding: dict[str, Any], backend: dict[str, Any],
                 fault_source: str | None = None, metamorphic: dict[str, Any] | None = None) -> str:
    """The text of repro.py. `finding`: short_id, title, kind, stage, signature; `backend`: name,
    family, version, arch, capability, warp_size, fault, compile_options, adapter_options, versions.
    `metamorphic` (see `metamorphic_block`): run both forms and compare them with each other."""
    if ref is None and finding.get("kind") in ("miscompile", "oob-write", "oob-read"):
        raise ValueError("a divergence reproducer needs the reference's expected values")
    data: dict[str, Any] = {
        "finding": finding,
        "backend": backend,
        "kernel_name": case.kernel_name,
        "grid": list(case.grid),
        "num_warps": case.num_warps,
        "args": [a.to_json() for a in case.args],
        "buffers": {n: {"dtype": b.dtype, "role": b.role, "size": b.size,
                        "data": _b64(b.data.astype(b.data.dtype.newbyteorder("<")))}
                    for n, b in case.buffers.items()},
        "expected": expected_block(case, ref),
        "launch": dict(case.launch),
    }
    if metamorphic is not None:
        data["metamorphic"] = metamorphic
    body = BODY_PATH.read_text()
    tree = ast.parse(body)
    doc_end = tree.body[0].end_lineno if isinstance(tree.body[0], ast.Expr) else 0
    lines = body.splitlines()[doc_end or 0:]
    text = "\n".join(lines)
    if DATA_LINE not in text:
        raise RuntimeError(f"{BODY_PATH} lost its `{DATA_LINE}` placeholder")
    data_src = ("KERNEL_SOURCE = " + _source_literal(case.source) + "\n"
                + ("FAULT_SOURCE = " + _source_literal(fault_source) + "\n" if fault_source else "")
                + "DATA: dict[str, Any] = " + pprint.pformat(data, width=110, sort_dicts=False) + "\n"
                + 'DATA["source"] = KERNEL_SOURCE\n'
                + ('DATA["fault_source"] = FAULT_SOURCE\n' if fault_source else ""))
    text = text.replace(DATA_LINE + "  # replaced by the generated file's own DATA block", data_src.rstrip())
    text = text.replace(DATA_LINE, data_src.rstrip())
    header = (f'#!/usr/bin/env python3\n"""Standalone reproducer of tritondiff finding {finding["short_id"]}.\n\n'
              f'{finding["title"]}\n\n'
              f'Backend: {backend["name"]}. Needs only the backend\'s own packages (triton or\n'
              'triton-ascend, torch, numpy), not tritondiff. Run: python repro.py [--print-ir] [--keep DIR]\n'
              'Exit status: 0 not reproduced, 1 reproduced (or killed by the crash\'s signal), 3 this\n'
              'machine cannot check it (no GPU / no NPU for a wrong-output finding).\n"""\n')
    return header + text.lstrip("\n") + '\n\nif __name__ == "__main__":\n    sys.exit(main())\n'


def metamorphic_block(variant: Any, var_case: KernelCase, ref: Any, fault_source: str | None,
                      variant_kind: str) -> dict[str, Any]:
    """The other form of a metamorphic finding, and how repro.py compares the two forms' outputs:
    within twice the reference's bound where the campaign had one, else dtype tolerances."""
    from oracles.compare import DTYPE_RTOL
    from oracles.metamorphic import RELATIONS

    tol = {}
    if ref is not None:
        for name in var_case.outputs():
            if var_case.buffers[name].dtype in ("fp32", "fp16", "bf16", "fp64"):
                tol[name] = _b64(2.0 * np.asarray(ref.errs[name], dtype="<f8"))
    return {"relation": variant.relation, "label": variant.label(), "doc": RELATIONS[variant.relation].doc,
            "variant_kind": variant_kind, "tol": tol, "rtol": dict(DTYPE_RTOL),
            "variant": {"source": var_case.source, "args": [a.to_json() for a in var_case.args],
                        "grid": list(var_case.grid), "num_warps": var_case.num_warps,
                        "launch": dict(var_case.launch), "fault_source": fault_source}}
