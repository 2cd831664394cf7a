"""Ascend backend: triton-ascend's frontend and TTIR->linalg adapter, executed on CPU via MLIR 19.

See docs/ascend.md. `runner.run_case` is the worker entry point; `npu_runner` is the path for a
machine with CANN and an NPU (not exercised here).
"""
