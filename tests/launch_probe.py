"""Run inside a triton env (no GPU needed): compile wire cases for sm_90 and print each one's launch
plan and packed argument bytes, or why the generic launcher would hand it to Triton.

    <env-python> tests/launch_probe.py < [{"case": wire_case, "options": {...}}, ...]

Used by tests/test_cuda_launch.py; the repo must be on PYTHONPATH.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile

import numpy as np
import torch
import triton
from triton.backends.compiler import GPUTarget

from backends.cuda_launch import NotLaunchable, pack_args, packed_bytes, plan_launch
from backends.runner_api import STORAGE
from backends.triton_common import scalar_value
from backends.triton_compile import _compile_source


def probe(case: dict, options: dict, tmp: str, n: int) -> dict:
    path = os.path.join(tmp, f"probe_kernel_{n}.py")
    with open(path, "w") as fh:
        fh.write(case["source"])
    spec = importlib.util.spec_from_file_location(f"probe_kernel_{n}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fn = getattr(mod, case["kernel_name"])
    target = GPUTarget("cuda", 90, 32)
    src = _compile_source(fn, case, target, {"now": "compile"}, True)
    kernel = triton.compile(src, target=target, options={"num_warps": case.get("num_warps", 4), **options})
    values, ptrs = [], {}
    for a in case["args"]:
        if a["kind"] == "ptr":
            t = torch.from_numpy(np.zeros(4, dtype=STORAGE[case["buffers"][a["buffer"]]["dtype"]]))
            ptrs[a["name"]] = t.data_ptr()
            values.append(t)
        elif a["kind"] == "scalar":
            values.append(scalar_value(a))
        else:
            values.append(a["value"])
    try:
        plan = plan_launch(kernel)
        _arr, keep = pack_args(plan, values)
    except NotLaunchable as e:
        return {"not_launchable": str(e)}
    return {"plan": plan.describe(), "bytes": [b.hex() for b in packed_bytes(keep)], "ptrs": ptrs,
            "num_warps": plan.num_warps, "shared": plan.shared, "binary": len(plan.binary)}


def main() -> int:
    items = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        out = [probe(it["case"], it.get("options", {}), tmp, n) for n, it in enumerate(items)]
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
