"""The shared linalg executor: lower linalg with upstream MLIR 19 and run it on CPU, guarded.

Used by the Ascend backend (triton-ascend's adapter output) and the CPU-fork family (a fork's own
TTIR -> linalg tool). Entry point: `client.lower_and_run`; see docs/ascend.md for the pipeline.
"""
