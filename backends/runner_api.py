"""What a backend runner inside a worker may use: stdlib and numpy only.

This module is imported inside backend environments (stock triton, triton-ascend, an external
Python on a GPU box), so it must not import tritondiff's orchestrator modules. A runner turns a
wire case (see `generators.case.KernelCase.to_wire`) into a result dict; failures are raised as
`StageError` so the orchestrator learns at which stage the backend gave up.

Result dict of a successful run:
    {"status": "ok", "executed": bool,
     "outputs": {buffer_name: bytes},  # the *padded* buffer: guard + data + guard (see below)
     "compile_s": float, "launch_s": float, "run_s": float, "artifacts": {"ttir": str, ...},
     "versions": {...}, "launcher": str}  # launcher: GPU runs only, "direct" or "triton: why"
Every buffer is laid out as GUARD_ELEMS canary elements (bytes 0xA5), the data, then GUARD_ELEMS
canary elements; the kernel receives a pointer to the data. Oracles check the canaries.
"""

from __future__ import annotations

import numpy as np

GUARD_ELEMS = 64
CANARY_BYTE = 0xA5

STORAGE = {
    "fp32": np.float32, "fp16": np.float16, "bf16": np.uint16, "fp64": np.float64,
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "int1": np.bool_,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "fp8e4nv": np.uint8, "fp8e5": np.uint8,  # fp8 as its bit pattern, like bf16
}


class StageError(Exception):
    """A backend failure at a named stage: frontend, compile, lower, launch, run."""

    def __init__(self, stage: str, exc_type: str, message: str, traceback: str = "",
                 artifacts: dict[str, str] | None = None) -> None:
        super().__init__(f"[{stage}] {exc_type}: {message}")
        self.stage = stage
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback
        self.artifacts = artifacts or {}


class Unsupported(Exception):
    """The case uses something this backend (or tritondiff's own pipeline for it) cannot run.

    Not a finding: reported apart from the backend's own failures.
    """


def padded_host_buffer(buf: dict) -> np.ndarray:
    """Guard + data + guard as one numpy array of the buffer's storage dtype."""
    dt = np.dtype(STORAGE[buf["dtype"]])
    data = np.frombuffer(buf["data"], dtype=dt)
    total = data.size + 2 * GUARD_ELEMS
    raw = np.full(total * dt.itemsize, CANARY_BYTE, dtype=np.uint8)
    out = raw.view(dt)
    out[GUARD_ELEMS:GUARD_ELEMS + data.size] = data
    return out


def ok_result(outputs: dict[str, bytes], executed: bool, compile_s: float, run_s: float,
              artifacts: dict[str, str] | None = None,
              versions: dict[str, str] | None = None, launch_s: float = 0.0) -> dict:
    return {"status": "ok", "executed": executed, "outputs": outputs, "compile_s": compile_s,
            "launch_s": launch_s, "run_s": run_s, "artifacts": artifacts or {},
            "versions": versions or {}}


# Stage progress: the worker installs a hook that forwards each stage to the orchestrator, so a
# case that kills the worker (SIGSEGV inside an MLIR pass, say) is still attributed to a stage.
_stage_hook = None


def set_stage_hook(hook) -> None:
    """Install the worker's stage callback (None to remove it)."""
    global _stage_hook
    _stage_hook = hook


def report_stage(stage: str) -> None:
    """Tell the orchestrator the runner is entering `stage`; a no-op outside a worker."""
    if _stage_hook is not None:
        _stage_hook(stage)
