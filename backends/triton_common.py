"""Helpers shared by the triton runners (in-env: stdlib, numpy and runner_api only)."""

from __future__ import annotations

import traceback
from typing import Any

from backends.runner_api import StageError

# Triton signature spelling of element dtypes.
TRITON_TYPE = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp64": "fp64", "int8": "i8",
               "int16": "i16", "int32": "i32", "int64": "i64", "int1": "i1",
               "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64", "fp8e4nv": "fp8e4nv", "fp8e5": "fp8e5"}
FLOAT_DTYPES = {"fp32", "fp16", "bf16", "fp64"}
ARTIFACT_KEYS = ("ttir", "ttgir", "llir", "ptx", "amdgcn")  # xpu's spv is binary: left out


def stage_error(stage: str, e: BaseException, artifacts: dict[str, str] | None = None) -> StageError:
    """A StageError that keeps the exception's type name, message and traceback."""
    return StageError(stage, type(e).__name__, str(e),
                      "".join(traceback.format_exception(type(e), e, e.__traceback__)), artifacts)


def scalar_value(arg: dict) -> Any:
    """The Python value a launch passes for a runtime scalar (the JIT infers its type from it)."""
    v = arg["value"]
    if arg["dtype"] in FLOAT_DTYPES:
        return float(v)
    if arg["dtype"] == "int1":
        return bool(v)
    return int(v)


def artifacts_of(asm: dict) -> dict[str, str]:
    """The textual IRs of a CompiledKernel's `asm` (binaries are left out)."""
    return {k: asm[k] for k in ARTIFACT_KEYS if isinstance(asm.get(k), str)}


def launch_options(case: dict, family: str) -> dict[str, Any]:
    """Compile options a case's `launch` block asks of a triton GPU family (metamorphic variants).

    num_stages applies to cuda, hip and xpu, maxnreg to cuda only; the interpreter takes neither.
    """
    launch = case.get("launch") or {}
    out: dict[str, Any] = {}
    if family in ("cuda", "hip", "xpu") and launch.get("num_stages") is not None:
        out["num_stages"] = int(launch["num_stages"])
    if family == "cuda" and launch.get("maxnreg") is not None:
        out["maxnreg"] = int(launch["maxnreg"])
    return out
