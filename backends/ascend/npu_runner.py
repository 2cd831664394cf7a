"""Ascend runner for an *external* environment: a machine with CANN, torch_npu and an NPU.

NOT EXERCISED HERE: this repository's machines have neither CANN nor an Ascend NPU, so this path
has never been run by tritondiff's authors or tests. It follows triton-ascend's documented launch
API (`kernel[grid](*args)` on `torch.npu` tensors) and the same wire format and result contract as
`backends.ascend.runner`; expect to adjust it on first contact with real hardware.

Differences from the CPU runner: the whole triton-ascend pipeline runs (frontend, adapter, and
Huawei's bishengir/CANN NPU compiler), so NPU-compiler bugs become visible too; there are no guard
pages (out-of-bounds accesses show only through the canary elements around each buffer, checked by
the oracles) and no poisoning of the kernel's own allocations.
Stages: frontend | adapter-crash | adapter-error | npu-compile (bishengir rejected or crashed) |
runtime-fault (a torch_npu / ACL error during launch or synchronize).
"""

from __future__ import annotations

import re
import time
import traceback
from typing import Any

import numpy as np

from backends.ascend.frontend import load_kernel, versions
from backends.runner_api import GUARD_ELEMS, STORAGE, StageError, ok_result, padded_host_buffer

TORCH_DTYPE = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64",
               "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64", "int1": "bool"}


def _to_npu(buf: dict) -> tuple[Any, Any]:
    """Padded device tensor (canaries + data + canaries) and the data view passed to the kernel."""
    import torch
    host = padded_host_buffer(buf)
    if buf["dtype"] == "bf16":  # bits arrive as uint16
        t = torch.from_numpy(host.view(np.int16).copy()).view(torch.bfloat16)
    else:
        t = torch.from_numpy(host.copy())
    dev = t.to("npu")
    return dev, dev[GUARD_ELEMS:GUARD_ELEMS + buf["size"]]


def _to_bytes(dev: Any, dtype: str) -> bytes:
    import torch
    t = dev.cpu()
    if dtype == "bf16":
        t = t.view(torch.int16)
    return np.ascontiguousarray(t.numpy()).astype(STORAGE[dtype], copy=False).tobytes()


def _classify_compile_error(e: Exception) -> StageError:
    text = str(e)
    tb = traceback.format_exc()
    if "ConvertTritonIRToLinalgIR" in text:
        died = re.search(r"died with <Signals\.(\w+)", text + tb)
        if died:
            return StageError("adapter-crash", died.group(1), text, tb)
        return StageError("adapter-error", type(e).__name__, text, tb)
    if "ConvertLinalgRToBinary" in text or "bishengir" in text:
        return StageError("npu-compile", type(e).__name__, text, tb)
    return StageError("frontend", type(e).__name__, text, tb)


def run_case(case: dict, options: dict) -> dict:
    """Compile and launch one wire case on the NPU; padded outputs like the CPU runner."""
    import torch
    import torch_npu  # noqa: F401 - registers the "npu" device
    fn = load_kernel(case["source"], case["kernel_name"])
    padded: dict[str, Any] = {}
    views: dict[str, Any] = {}
    for name, buf in case["buffers"].items():
        padded[name], views[name] = _to_npu(buf)
    args = [views[a["buffer"]] if a["kind"] == "ptr" else a["value"] for a in case["args"]]
    grid = tuple(int(g) for g in case["grid"])
    kw = {"num_warps": case.get("num_warps", 4), **(options.get("adapter_options") or {}),
          **((case.get("launch") or {}).get("ascend_options") or {})}
    t0 = time.perf_counter()
    try:
        if hasattr(fn, "warmup"):
            fn.warmup(*args, grid=grid, **kw)
    except Exception as e:  # noqa: BLE001 - classified by stage
        raise _classify_compile_error(e) from None
    t1 = time.perf_counter()
    try:
        fn[grid](*args, **kw)
        torch.npu.synchronize()
    except Exception as e:  # noqa: BLE001 - compile errors surface here when warmup is absent
        if t1 - t0 < 1e-6 or "Compil" in type(e).__name__:
            raise _classify_compile_error(e) from None
        raise StageError("runtime-fault", type(e).__name__, str(e), traceback.format_exc()) from None
    t2 = time.perf_counter()
    outputs = {n: _to_bytes(padded[n], case["buffers"][n]["dtype"]) for n in case["buffers"]}
    vers = versions()
    vers["torch_npu"] = getattr(torch_npu, "__version__", "?")
    return ok_result(outputs, executed=True, compile_s=t1 - t0, run_s=t2 - t1,
                     artifacts={"note": "run on an NPU through torch_npu; no CPU lowering"}, versions=vers)
